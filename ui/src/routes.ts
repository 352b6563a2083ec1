// The application's areas (study browser, worklist, reporting, administration…): each area
// module exports one `Area` with its hash routes and, optionally, its entry in the top
// navigation. main.ts lists the areas once; each area keeps its routes and strings in its own
// module, so areas are built (and changed) independently.
import type { WhoAmI } from "./api";

export interface Route {
  /** Matched against `location.hash`; the first area/route that matches renders. */
  pattern: RegExp;
  render(main: HTMLElement, match: RegExpExecArray, principal: WhoAmI): void | Promise<void>;
}

export interface NavItem {
  href: string;
  label: () => string;
  /** Shown only to a principal holding this permission (the API enforces it regardless). */
  permission: string;
}

export interface Area {
  nav?: NavItem;
  routes: Route[];
  /** Called whenever the route changes (stop timers, free viewports). */
  leave?: () => void;
}

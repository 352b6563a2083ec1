"""De-identification: DICOM PS3.15 Annex E profiles, policies, engine, runner, leak checker.

Public names only; see ``engine.Deidentifier`` for the rules applied and ``policy`` for the
named modes (basic, pseudonymize 仮名加工, anonymize 匿名加工, coerce 紹介).
"""

from __future__ import annotations

from raddx.deid.engine import ActionRecord, Deidentifier
from raddx.deid.keys import ProjectKey, read_key
from raddx.deid.policy import CoercePolicy, Policy, SafePrivateRule, list_policies, load_policy
from raddx.deid.profile import Action, DeidentificationOption, load_profile
from raddx.deid.registry import DatabaseRegistry, KeyedRegistry, PatientRegistry
from raddx.deid.run import FileOutcome, RunSummary, deidentify_paths
from raddx.deid.uids import UIDMapper, is_well_known
from raddx.deid.verify import Finding, VerifyReport, verify_paths

__all__ = [
    "Action",
    "ActionRecord",
    "CoercePolicy",
    "DatabaseRegistry",
    "DeidentificationOption",
    "Deidentifier",
    "FileOutcome",
    "Finding",
    "KeyedRegistry",
    "PatientRegistry",
    "Policy",
    "ProjectKey",
    "RunSummary",
    "SafePrivateRule",
    "UIDMapper",
    "VerifyReport",
    "deidentify_paths",
    "is_well_known",
    "list_policies",
    "load_policy",
    "load_profile",
    "read_key",
    "verify_paths",
]

"""Security: accounts, authorisation, the audit trail (issue 9).

The audit trail's public names live in :mod:`raddx.security.audit` (``record`` and the event
values); import them from there.
"""

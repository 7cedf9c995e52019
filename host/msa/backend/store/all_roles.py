"""Every role's SQL in one class: what an engine (sqlite.py, postgres.py) adds its
connections to. Each mixin is one role's queries (base.py's protocols)."""

from __future__ import annotations

from msa.backend.store.case_life import CaseLifeSql
from msa.backend.store.daily_report import ReportSql
from msa.backend.store.evidence import EvidenceSql
from msa.backend.store.inventory import InventorySql
from msa.backend.store.nodes import NodeSql
from msa.backend.store.sessions import SessionSql
from msa.backend.store.sql import SqlStore
from msa.backend.store.supervision import SupervisionSql
from msa.backend.store.workflow import WorkflowSql


class AllRolesSql(
    CaseLifeSql,
    EvidenceSql,
    InventorySql,
    NodeSql,
    ReportSql,
    SupervisionSql,
    WorkflowSql,
    SessionSql,
    SqlStore,
):
    """The SQL of ingest, console, workflow, cases, supervision, reports, mail and desk."""

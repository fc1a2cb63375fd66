"""The SQL database resource: connecting (redacted, retried), the type mapping to Arrow, query building and
the engines that stream query results as Arrow record batches (SQLAlchemy, ADBC)."""

from medallion_resources.sql.connect import RetryPolicy, SqlTarget, connect_with_retries, create_sa_engine
from medallion_resources.sql.engines import ENGINES, SqlEngine, describe_query, select_engine
from medallion_resources.sql.query import SqlQuery, base_select, validate_identifier
from medallion_resources.sql.types import SqlColumn, schema_of

__all__ = [
    "ENGINES",
    "RetryPolicy",
    "SqlColumn",
    "SqlEngine",
    "SqlQuery",
    "SqlTarget",
    "base_select",
    "connect_with_retries",
    "create_sa_engine",
    "describe_query",
    "schema_of",
    "select_engine",
    "validate_identifier",
]

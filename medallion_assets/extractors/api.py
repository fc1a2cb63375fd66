"""REST APIs become a stream of record batches, one batch per page, driven by the ``api:`` config alone.

Selected by ``source.type: api``::

    source:
      system: crm
      table: contacts
      type: api
      api:
        base_url: https://api.example.com
        endpoint: /v2/contacts              # templates allowed (below)
        method: GET                         # GET | POST (body: sent as JSON)
        params: {updated_since: "{watermark}", status: active}
        headers: {Accept-Version: "2"}
        data_path: data.items               # dot path to the record list (numbers index lists)
        allow_empty: false                  # null records on the first page: error (false) or no rows (true)
        auth: {type: bearer, token_env: CRM_TOKEN}
        pagination: {type: cursor, cursor_path: meta.next, page_size: 100, total_path: meta.total}
        rate_limit_rps: 5                   # 0: no limit; default platform.defaults.http
        burst: 5
        max_retries: 5
        timeout_seconds: 30
        retry_backoff_seconds: 0.5
        use_async: true                     # with offset/page pagination: fetch ahead
        prefetch_pages: 8
        incremental: {cursor_field: updated_at, param: updated_since, initial_value: "2025-01-01T00:00:00Z"}

Templates in ``endpoint``, ``params`` and ``body`` strings follow ``medallion_assets.templates`` (the one
template mechanism, shared with ``file.path``): ``{run_date}`` (ISO date), ``{window_start}``,
``{window_end}`` (ISO datetimes of the partition's day), each with an optional strftime format
(``{run_date:%Y%m%d}``), and ``{watermark}``: the previous committed partition's ``watermark_out``, else
``incremental.initial_value`` (empty while there is neither; it takes no format). A param whose whole value
is ``{watermark}`` is left out while there is no watermark yet. Other ``{...}`` text is left as it is.

Incremental (DESIGN §5): the largest ``incremental.cursor_field`` seen (and never less than
``watermark_in``) becomes ``watermark_out`` (numbers compare as numbers, ISO timestamps as instants,
anything else as text); the next partition sends it back as ``incremental.param`` and/or
``{watermark}``. The records it reads again at that watermark which the previous partition landed are
dropped by the one boundary dedupe of every incremental source, ``medallion_resources.boundary``
(``JsonRecords``: records hashed as the API sent them). A re-run (or backfill) of a day with a later
partition committed does not land the records past that partition's ``watermark_in`` (``watermark_next``):
the later partitions hold them; with no partition before it and a later one that read from the start (a
backfill before the first load), it sends no request and lands none (unless the request names its day).

Records follow the one JSON rule of ``extractors.records`` (nested values as JSON text, mixed types as
text). Stats in ``_metadata.json``: ``pages``, ``requests``, ``retries``, ``throttled_seconds`` and
``endpoint`` (URL without query or credentials). The HTTP machinery lives in ``medallion_resources.http``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from medallion_assets import templates
from medallion_assets.config.models import ApiConfig
from medallion_assets.errors import ApiError
from medallion_assets.extractors.base import CheckResult, ExtractContext, Extractor
from medallion_assets.extractors.records import records_to_batch
from medallion_assets.extractors.registry import register_extractor

if TYPE_CHECKING:
    from medallion_resources.boundary import BoundaryDedupe
    from medallion_resources.http import ApiSession, HttpSettings, RequestSpec

# medallion_resources.http (httpx, ~0.2 s) is imported when a request is made: config validation imports
# this module for the class's contract, and a project's file or database sources do not need an HTTP client.

__all__ = ["ApiExtractor", "render_template"]

_WATERMARK_ONLY = "{watermark}"


def render_template(value: Any, fields: dict[str, date | datetime | str | None]) -> Any:
    """Fill the template fields in every string of ``value`` (nested dicts and lists included).

    ``fields`` holds ``run_date``, ``window_start``, ``window_end`` and ``watermark``; the one template
    semantics is ``medallion_assets.templates``'s.
    """
    if isinstance(value, str):
        run_date, start, end, watermark = (fields.get(k) for k in templates.FIELDS)
        assert isinstance(run_date, date) and isinstance(start, datetime) and isinstance(end, datetime)
        try:
            return templates.fill(
                value,
                run_date,
                window_start=start,
                window_end=end,
                watermark=None if watermark is None else str(watermark),
            )
        except ValueError as exc:
            raise ApiError(f"api template '{value}': {exc}") from None
    if isinstance(value, dict):
        return {k: render_template(v, fields) for k, v in value.items()}
    if isinstance(value, list):
        return [render_template(v, fields) for v in value]
    return value


@register_extractor
class ApiExtractor(Extractor):
    """Pages through ``api.endpoint``; see the module docstring for the YAML."""

    type_name = "api"
    section = "api"

    @property
    def config(self) -> ApiConfig:
        section = self.entry.source.api
        assert section is not None  # guaranteed by SourceConfig validation
        return section

    def settings(self) -> HttpSettings:
        from medallion_resources.http import HttpSettings, retry_policy

        cfg, defaults = self.config, self.platform.defaults.http

        def pick(key: str) -> Any:
            own = getattr(cfg, key)
            return getattr(defaults, key) if own is None else own

        rps = pick("rate_limit_rps")
        return HttpSettings(
            rate_limit_rps=rps or None,
            burst=pick("burst"),
            timeout_seconds=pick("timeout_seconds"),
            retry=retry_policy(pick("max_retries"), pick("retry_backoff_seconds")),
            use_async=cfg.use_async,
            prefetch_pages=cfg.prefetch_pages,
            data_path=cfg.data_path,
            allow_empty=cfg.allow_empty,
        )

    def session(self) -> ApiSession:
        from medallion_resources.http import ApiSession

        cfg = self.config
        return ApiSession.create(
            self.settings(), cfg.auth, cfg.pagination, cfg.base_url, secrets=cfg.env_values
        )

    def request(self, ctx: ExtractContext) -> RequestSpec:
        """The first request of the run, templates filled and the incremental param set."""
        from medallion_resources.http import RequestSpec

        cfg = self.config
        watermark = ctx.watermark_in
        if watermark is None and cfg.incremental is not None:
            watermark = cfg.incremental.initial_value
        fields = {
            "run_date": ctx.run_date,
            "window_start": ctx.window_start,
            "window_end": ctx.window_end,
            "watermark": watermark,
        }
        params = {
            key: render_template(value, fields)
            for key, value in cfg.params.items()
            if not (value == _WATERMARK_ONLY and watermark is None)
        }
        if cfg.incremental is not None and cfg.incremental.param and watermark is not None:
            params[cfg.incremental.param] = watermark
        return RequestSpec(
            method=cfg.method,
            url=self.endpoint_url(render_template(cfg.endpoint, fields)),
            params=params,
            headers=dict(cfg.headers),
            json=render_template(cfg.body, fields),
        )

    def endpoint_url(self, endpoint: str) -> str:
        if re.match(r"^https?://", endpoint):
            return endpoint
        return self.config.base_url.rstrip("/") + "/" + endpoint.lstrip("/")

    def extract(self, ctx: ExtractContext) -> Iterator[pa.RecordBatch]:
        session = self.session()
        first = self.request(ctx)
        self.stats = {**session.stats.as_dict(), "endpoint": session.redactor.url(first.url.split("?")[0])}
        from_start = ctx.watermark_in is None and ctx.later_read_from_start
        if self.config.incremental is not None and from_start and not self.config.dated_request:
            ctx.log.info(
                "no request sent: the first committed partition after this day read every record from the "
                "start, so it holds this day's records already"
            )
            return
        dedupe = self.dedupe(ctx)
        later = self.later_records(ctx)
        cursor = _CursorSeen(self.config.incremental.cursor_field if self.config.incremental else None)
        skipped = 0
        for page in session.pages(first):
            read = page.records or []
            cursor.see(read)
            records = read
            if later is not None and (past := later(read)):  # the next partition's records: not D's
                skipped += len(past)
                drop = set(past)
                records = [r for i, r in enumerate(read) if i not in drop]
            records = records if dedupe is None else dedupe.filter(records)
            self.stats.update(session.stats.as_dict())
            if records:
                yield records_to_batch(records)
            elif read:  # every record was landed before: keep the columns they have (Silver needs its keys)
                yield records_to_batch(read).slice(0, 0)
        self.stats.update(session.stats.as_dict())
        cursor.check(self.stats["endpoint"])
        if dedupe is not None:
            # Read once the stream is drained, and committed with the data (DESIGN §5).
            if dedupe.watermark_held:  # no cursor passed it: the committed text, as it was written
                self.watermark_out = ctx.watermark_in
            elif dedupe.watermark is not None:
                self.watermark_out = str(dedupe.watermark)
            self.boundary_hashes_out = dedupe.boundary_hashes()
            self.stats["boundary_rows_dropped"] = dedupe.dropped
            if dedupe.dropped:
                ctx.log.info(f"dropped {dedupe.dropped} re-read record(s) the previous partition landed")
        if skipped:
            ctx.log.info(
                f"skipped {skipped} record(s) past {ctx.watermark_next}, where the next partition started"
            )
        stats = self.stats
        ctx.log.info(
            f"api {stats['endpoint']}: {stats['pages']} page(s), {stats['requests']} request(s), "
            f"{stats['retries']} retry(ies), throttled {stats['throttled_seconds']} s"
        )

    def later_records(self, ctx: ExtractContext) -> Callable[[list[Any]], list[int]] | None:
        """On a re-run (or backfill) of D with a later partition committed: the positions of a page's records
        whose cursor is past that partition's ``watermark_in`` (None: no bound). The "changed since" listing
        has no upper end, and that partition read (or its successors will read) everything from there on,
        so D stops there, inclusive: D landed the records at it, the later partition dropped them by hash.
        """
        from medallion_resources.boundary import JsonRecords, cursor_value

        incremental = self.config.incremental
        if incremental is None or ctx.watermark_next is None:
            return None
        rows, bound = JsonRecords(incremental.cursor_field), cursor_value(ctx.watermark_next)
        return lambda records: rows.above(records, bound)

    def dedupe(self, ctx: ExtractContext) -> BoundaryDedupe[list[Any]] | None:
        """The boundary dedupe of an incremental source (None: not incremental). No lookback: an inclusive
        "changed since" parameter re-reads the records at the watermark; the known records an API did not
        return again are kept while the watermark stays (``keep_unread``: a listing is no snapshot)."""
        from medallion_resources.boundary import BoundaryDedupe, JsonRecords, cursor_value

        incremental = self.config.incremental
        if incremental is None:
            return None
        watermark_in = None if ctx.watermark_in is None else cursor_value(ctx.watermark_in)
        return BoundaryDedupe(
            JsonRecords(incremental.cursor_field),
            watermark_in=watermark_in,
            known=ctx.boundary_hashes,
            keep_unread=True,
        )

    def check(self) -> CheckResult:
        """One authenticated request (the first page of today's partition) and what came back."""
        from datetime import UTC, timedelta

        now = datetime.now(UTC)
        start = datetime.combine(now.date(), datetime.min.time(), UTC)
        ctx = ExtractContext(run_date=now.date(), window_start=start, window_end=start + timedelta(days=1))
        try:
            session = self.session()
            first = self.request(ctx)
            page = session.send_once(first)
        except ApiError as exc:
            return CheckResult(ok=False, detail=str(exc))
        count = len(page.records or [])
        url = session.redactor.url(first.url)
        return CheckResult(ok=True, detail=f"HTTP {page.response.status_code} from {url}, {count} record(s)")


class _CursorSeen:
    """Whether any record read has ``incremental.cursor_field`` as a key. A field that none has (a typo,
    ``updatedAt`` for ``updated_at``, or a nested one, ``meta.updated_at``) never moves the watermark: every
    run would read, and land, every record again. One record without it (or with null there) is data."""

    def __init__(self, field: str | None) -> None:
        self.field = field
        self.records = 0
        self.found = field is None
        self.keys: list[str] = []

    def see(self, records: list[Any]) -> None:
        if self.found:
            return
        self.records += len(records)
        for record in records:
            if isinstance(record, dict):
                if self.field in record:
                    self.found = True
                    return
                if not self.keys:
                    self.keys = sorted(map(str, record))

    def check(self, endpoint: str) -> None:
        if self.found or not self.records:
            return
        keys = ", ".join(self.keys) or "none"
        raise ApiError(
            f"incremental.cursor_field '{self.field}' is in none of the {self.records} record(s) read from "
            f"{endpoint} (keys of the first: {keys}): the watermark would never move, and every run would "
            "read every record again. Set it to a top-level key of the records"
        )

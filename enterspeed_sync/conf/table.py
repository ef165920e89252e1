"""
Every setting, declared once: its key, default, rule (type, bounds, check id, how it is
read), and the type, default and meaning the configuration reference shows. ``conf``'s
properties, the system check ``check_setting_values``, processing's refusal to claim jobs
under a bad value, and the table in docs/configuration.md (``python -m enterspeed_sync.conf``
writes it; a test fails while it differs) all come from ``SETTINGS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from enterspeed_sync.conf.rules import (
    E006,
    E007,
    E010,
    Rule,
    api_key,
    boolean,
    choice,
    class_dict,
    classes,
    dict_list,
    non_negative_number,
    positive_number,
    positive_whole,
    share,
    text,
    text_dict,
    text_list,
    timeout,
)
from enterspeed_sync.defaults import DEFAULT_BASE_URL, DEFAULT_GUARDS, DEFAULT_JOB_HANDLERS


@dataclass(frozen=True)
class Setting:
    """One key of ``settings.ENTERSPEED_SYNC``."""

    key: str
    default: Any
    rule: Rule
    #: The reference's Type, Default (when the default's repr misleads) and Meaning columns.
    type: str
    help: str
    default_doc: str = ""
    #: How a valid value is read, when not as the rule reads it.
    read: Callable[[Any], Any] | None = None

    def value(self, configured: Any) -> Any:
        return (self.read or self.rule.read)(configured)

    @property
    def default_markdown(self) -> str:
        if self.default_doc:
            return self.default_doc
        value = self.default
        return f'`"{value}"`' if isinstance(value, str) else f"`{value!r}`"


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "API_KEY",
        "",
        api_key(),
        type="`str`",
        default_doc='`""` (required)',
        help=(
            "Key of the Enterspeed source that receives published content (`source-<guid>`). "
            "Sent as `X-Api-Key`; never logged or shown. Whitespace around it is dropped "
            "(check `W024`)."
        ),
    ),
    Setting(
        "BASE_URL",
        DEFAULT_BASE_URL,
        text(),
        read=lambda value: str(value).rstrip("/"),
        type="`str`",
        help=(
            "Where the Ingest API lives. Tests point it at the [stand-in](testing.md). A "
            "trailing slash is ignored. Plain `http://` warns (`W023`) unless the host is "
            "`127.0.0.1`, `::1` or `localhost`."
        ),
    ),
    Setting(
        "TIMEOUT",
        (5.0, 30.0),
        timeout(E006),
        type="`float` or a `(connect, read)` pair, above 0",
        help=(
            "Seconds for every request. A single number is used for both. A request that "
            "times out is retried with backoff (see `MAX_ATTEMPTS`), with the reason on the "
            "job."
        ),
    ),
    Setting(
        "JOB_HANDLERS",
        None,
        classes(optional=True, check_id="enterspeed_sync.E003", default=DEFAULT_JOB_HANDLERS),
        type="list of dotted paths (or classes)",
        default_doc="`DEFAULT_JOB_HANDLERS`",
        help=(
            "Handler classes in order; for each job the first whose `can_handle(job)` is true"
            " handles it. See [handlers](handlers.md)."
        ),
    ),
    Setting(
        "BATCH_SIZE",
        50,
        positive_whole(E007),
        type="`int`, 1 or more",
        help=("Jobs one worker claims and processes together."),
    ),
    Setting(
        "WORKER_THREADS",
        2,
        positive_whole(E007),
        type="`int`, 1 or more",
        help=(
            "Batches one processing run keeps going at once while a full batch of jobs is"
            " waiting: while one batch waits for Enterspeed's answer, the next is mapped."
            " They share the rate limit. `1`: one batch at a time. See"
            " [jobs](jobs.md#batches-in-flight)."
        ),
    ),
    Setting(
        "PRIORITY_LANES",
        True,
        boolean(),
        type="`bool`",
        help=(
            "Claim people's changes (publish, unpublish, move, delete, preview drafts, Sync"
            " now, a retry) before bulk work (seed, repair, referrer fan-out), keeping a"
            " fifth of every batch for bulk. `False`: strictly oldest first. See"
            " [jobs](jobs.md#priority-lanes)."
        ),
    ),
    Setting(
        "STALE_PROCESSING_MINUTES",
        60,
        positive_whole(E007),
        type="`int`",
        help=(
            "The outer bound: a job still *processing* this long after it was claimed is "
            "marked failed. Leases (`LEASE_SECONDS`) recover a dead worker's jobs long "
            "before."
        ),
    ),
    Setting(
        "TASK_TIME_BUDGET_SECONDS",
        50,
        positive_number(E007),
        type="`float`",
        help=(
            "A django-q2 task stops claiming new batches after this long and queues a "
            'follow-up task, so it stays inside `Q_CLUSTER["timeout"]`.'
        ),
    ),
    Setting(
        "ENABLED",
        True,
        boolean(),
        type="`bool`",
        help=(
            "`False` creates no jobs at all (content changes are not recorded). Jobs already "
            "queued stay queued."
        ),
    ),
    Setting(
        "PROCESS_ON_COMMIT",
        True,
        boolean(),
        type="`bool`",
        help=(
            "Queue a django-q2 task after each commit that created jobs. With `False`, only "
            "the once-a-minute schedule or `manage.py enterspeed_process` sends them."
        ),
    ),
    Setting(
        "FIELD_CONVERTERS",
        [],
        classes(),
        type="list of dotted paths",
        help=(
            "Field converters tried before the built-in ones (first match wins). See [the "
            "guide](mapping-guide.md#a-field-converter)."
        ),
    ),
    Setting(
        "BLOCK_CONVERTERS",
        [],
        classes(),
        type="list of dotted paths",
        help=("Block converters tried before the built-in ones."),
    ),
    Setting(
        "MAPPERS",
        {},
        class_dict("a dict of {'app_label.ModelName': mapper class or its dotted path}"),
        type='dict `"app_label.ModelName"` → dotted path',
        help=("Mapper class per model; an entry covers subclasses, the most specific wins."),
    ),
    Setting(
        "GUARDS",
        None,
        classes(optional=True, default=DEFAULT_GUARDS),
        type="list of dotted paths (or classes)",
        default_doc="`DEFAULT_GUARDS`",
        help=(
            "Checks that can veto sending an object; a veto deletes the entity. "
            "[Guards](mapping.md#guards)."
        ),
    ),
    Setting(
        "UNKNOWN_FIELDS",
        "skip",
        choice("skip", "fail", check_id="enterspeed_sync.W005"),
        type='`"skip"` or `"fail"`',
        help=(
            "A model field no converter knows is skipped (logged once per field), or fails the job."
        ),
    ),
    Setting(
        "MEDIA_BASE_URL",
        "",
        text(optional=True),
        read=lambda value: str(value or "").rstrip("/"),
        type="`str`",
        help=(
            "Absolute URL image, document and file URLs are made absolute against (a CDN). "
            "Empty: the default site's root URL. Storages that return absolute URLs (S3) are "
            "left alone."
        ),
    ),
    Setting(
        "IMAGE_RENDITIONS",
        {},
        text_dict("a dict of {'name': 'filter spec'} strings"),
        type="dict name → filter spec",
        help=(
            'Renditions sent with every image entity, e.g. `{"thumbnail": "fill-300x200"}`. '
            "Created in the worker on first use."
        ),
    ),
    Setting(
        "SYNC_IMAGES",
        True,
        boolean(),
        type="`bool`",
        help=(
            "Images as entities of their own (`image-{pk}`). References to images are sent "
            "either way."
        ),
    ),
    Setting(
        "SYNC_DOCUMENTS",
        True,
        boolean(),
        type="`bool`",
        help=("Documents as entities of their own (`document-{pk}`)."),
    ),
    Setting(
        "SNIPPET_MODELS",
        None,
        text_list(
            "a list of 'app_label.ModelName' strings, or None for every snippet model",
            optional=True,
        ),
        type='list of `"app_label.ModelName"` or `None`',
        help=("Snippet models that sync; `None` means every registered snippet model, `[]` none."),
    ),
    Setting(
        "REINGEST_REFERRERS",
        True,
        boolean(),
        type="`bool`",
        help=(
            "Re-send the pages and snippets that reference an image, document or snippet when"
            " it changes or is deleted, and those that link to a page (or to any of its"
            " translations) when its title or URL changes or it is published for the first"
            " time, unpublished or deleted."
        ),
    ),
    Setting(
        "MAX_PAYLOAD_BYTES",
        1048576,
        positive_whole(),
        type="`int`",
        help=(
            "Pre-flight limit on an entity's JSON size (the contract's 1 MB); a bigger entity"
            " fails its job without a request. Above Enterspeed's 5 MB per entity: check "
            "`W025`."
        ),
    ),
    Setting(
        "MAX_PROPERTIES",
        5000,
        positive_whole(),
        type="`int`",
        help=("Pre-flight limit on the number of properties per entity."),
    ),
    Setting(
        "MAX_ATTEMPTS",
        10,
        positive_whole(E010),
        type="`int`",
        help=(
            "Attempts per job for transient errors (network errors, timeouts, 5xx) before the"
            " job is *failed*. 429s, pauses and an open breaker do not spend attempts. See "
            "[reliability](reliability.md#retry-policy)."
        ),
    ),
    Setting(
        "RETRY_BASE_DELAY",
        30.0,
        positive_number(E010),
        type="`float`",
        help=(
            "Seconds. After the n-th failed attempt the job waits a random time between half "
            "and all of `min(RETRY_MAX_DELAY, RETRY_BASE_DELAY * 2**(n-1))`."
        ),
    ),
    Setting(
        "RETRY_MAX_DELAY",
        3600.0,
        positive_number(E010),
        type="`float`",
        help=("Seconds: the longest wait between two attempts."),
    ),
    Setting(
        "RATE_LIMIT",
        25.0,
        non_negative_number(E010, optional=True),
        type="`float` or `None`",
        help=(
            "Requests per second per API key, shared by every worker on every machine through"
            " the database. Enterspeed allows 25 per tenant. `0`/`None` turns the limiter off"
            " (check `W017`)."
        ),
    ),
    Setting(
        "RATE_LIMIT_HEADROOM",
        0.1,
        share(0.9, "the share of RATE_LIMIT the limiter leaves unused", E010),
        type="`float`",
        help=(
            "The share of `RATE_LIMIT` the limiter leaves unused, `0` to `0.9`: with `0.1` it"
            " spaces requests for 90 % of the limit (22.5 per second), so a request that "
            "leaves a little late, clock skew between machines or network jitter never puts "
            "one second over Enterspeed's limit. Every 429 pauses every worker, so the 10 % "
            "cost less than the 429s they prevent (measured in "
            "[reliability](reliability.md#measured))."
        ),
    ),
    Setting(
        "RATE_LIMIT_PAUSE",
        10.0,
        non_negative_number(E010),
        type="`float`",
        help=("Seconds every worker pauses after a 429 that carries no `Retry-After`."),
    ),
    Setting(
        "RETRY_AFTER_MAX",
        900.0,
        positive_number(E010),
        type="`float`",
        help=("Seconds: the longest pause a `Retry-After` header can impose."),
    ),
    Setting(
        "BREAKER_THRESHOLD",
        5,
        positive_whole(E010),
        type="`int`",
        help=("Transient failures in a row (from any worker) that open the circuit breaker."),
    ),
    Setting(
        "BREAKER_COOLDOWN",
        30.0,
        positive_number(E010),
        type="`float`",
        help=("Seconds the breaker stays open the first time; it doubles each time a probe fails."),
    ),
    Setting(
        "BREAKER_COOLDOWN_MAX",
        900.0,
        positive_number(E010),
        type="`float`",
        help=("Seconds: the longest the breaker stays open before the next probe."),
    ),
    Setting(
        "LEASE_SECONDS",
        30.0,
        positive_number(E010),
        type="`float`",
        help=(
            "How long a claimed job stays leased to its worker without renewal. A heartbeat "
            "renews it every third of that while the worker works, however long a request "
            "takes; a killed worker's jobs are claimed again once it runs out (its "
            "replacement queues processing for that moment). At least 10 (check `W010`)."
        ),
    ),
    Setting(
        "RETRY_WAIT_SECONDS",
        10.0,
        non_negative_number(E010),
        type="`float`",
        help=(
            "A running task waits for a retry or a pause that ends within this many seconds "
            "instead of leaving it to the once-a-minute schedule. `0` never waits (tasks run "
            "inline in django-q2's sync mode never wait)."
        ),
    ),
    Setting(
        "SKIP_UNCHANGED",
        True,
        boolean(),
        type="`bool`",
        help=(
            "Skip a save whose payload is identical to the last one Enterspeed accepted (per "
            "the [ledger](reliability.md#the-ledger-and-enterspeed_verify)). `enterspeed_seed"
            " --force` sends everything anyway."
        ),
    ),
    Setting(
        "BULK_INGEST",
        True,
        boolean(),
        type="`bool`",
        help=(
            "Send saves and deletes in bulk requests of up to 50 entities (and "
            "`MAX_PAYLOAD_BYTES`); one invalid entity fails only its own job. An account that"
            " refuses bulk requests (400/404) is detected and sent single requests for an "
            "hour; `False` always sends single requests."
        ),
    ),
    Setting(
        "PREVIEW_API_KEY",
        "",
        api_key(),
        type="`str`",
        help=(
            "Key of the Enterspeed source that receives drafts. Empty: no preview source. See"
            " [preview](preview.md); must differ from `API_KEY` (check `E011`)."
        ),
    ),
    Setting(
        "PREVIEW_SETTLE_SECONDS",
        2.0,
        non_negative_number(E010),
        type="`float`",
        help=(
            "A draft save's preview job waits this long before it is sent; every revision "
            "saved meanwhile (autosave: one every half second while typing) is absorbed by "
            "it. `0` sends at once."
        ),
    ),
    Setting(
        "TRANSLATION_GROUPS",
        False,
        boolean(),
        type="`bool`",
        help=(
            "One locale-independent entity per set of translated pages "
            "(`translation-group-{translation_key}`) listing its variants. See [translation "
            "groups](translation-groups.md)."
        ),
    ),
    Setting(
        "POST_SYNC_HOOKS",
        [],
        dict_list("enterspeed_sync.E012"),  # each entry: post_sync.hook_problems (E012)
        type="list of dicts",
        help=(
            "URLs called once after a processing run that changed something, e.g. a site's "
            'build hook: `{"url", "name", "method", "headers", "body", "timeout", "attempts",'
            ' "retry_delay", "destinations"}`. See [post-sync hooks](post-sync.md) (check '
            "`E012`)."
        ),
    ),
)

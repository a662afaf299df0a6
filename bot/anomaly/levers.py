"""Levers an alert suggests: ways to bring spend down without stopping the service.

Each lever belongs to the cost category of the spend it acts on (LLM tokens, GPUs, logging,
data transfer, ...). A billing line says its category three ways, none complete on its own: the
FOCUS ``ServiceCategory`` is coarse (CloudWatch is "Management and Governance", SageMaker and the
OpenAI API are both "AI and Machine Learning"), service names differ per provider, and the unit
tells tokens from GPU hours. ``category_for`` weighs them in that light; ``levers_for_services``
turns an alert's top contributors into a short list that fits a Slack select menu.

A playbook for one kind of spend brings its own levers, each with a savings rule
(:mod:`bot.playbook.savings`); ``levers_with_estimates`` turns them into the same
:class:`Lever` with the estimate for the anomaly at hand, so every chat renders both alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from bot.chat.text import money
from bot.playbook.savings import PlaybookLever, SpendFigures, estimate

__all__ = [
    "DETAIL_MAX",
    "ID_MAX",
    "LEVERS",
    "MAX_SUGGESTED",
    "TITLE_MAX",
    "Lever",
    "LeverCategory",
    "category_for",
    "levers_for",
    "levers_for_services",
    "levers_with_estimates",
]

ID_MAX = 75  # fits a Slack option value with room to spare
TITLE_MAX = 75  # Slack's limit for an option's text
DETAIL_MAX = 300
MAX_SUGGESTED = 6


class LeverCategory(StrEnum):
    """What kind of spend a line is, as far as the levers that reduce it are concerned."""

    TOKENS = "tokens"
    GPU = "gpu"
    LOGGING = "logging"
    TRANSFER = "transfer"
    STORAGE = "storage"
    COMPUTE = "compute"
    DATABASES = "databases"
    OTHER = "other"


@dataclass(frozen=True)
class Lever:
    """One concrete action; ``id`` is a stable slug, safe to round-trip in a select option.

    Ids are ``<category>.<slug>``, so a chosen option names its category without a lookup.
    """

    id: str
    title: str
    detail: str
    # what it could save for the anomaly at hand, in words (a playbook's levers only)
    saves: str = ""

    @property
    def category(self) -> LeverCategory:
        return LeverCategory(self.id.partition(".")[0])


_C = LeverCategory
_L = Lever

# Per category, the usual first move first.
LEVERS: Mapping[LeverCategory, tuple[Lever, ...]] = MappingProxyType({
    _C.TOKENS: (
        _L("tokens.loop-limits", "Bound agent loops and retries",
           "Cap steps per agent run and tokens per session, retry only 429/5xx with exponential "
           "backoff, jitter and a low max, and set a per-key rate or spend limit so a runaway "
           "loop or retry storm stops itself."),
        _L("tokens.prompt-caching", "Cache the stable prompt prefix",
           "Put system prompt, tool schemas and shared context first and make them cacheable "
           "(Anthropic cache_control, Bedrock cache points; OpenAI, Azure OpenAI and Gemini "
           "cache long prefixes automatically). Cached input tokens bill at a fraction."),
        _L("tokens.trim-context", "Cap max_tokens and trim the context",
           "Set max_tokens to what the feature needs, window or summarise chat history instead "
           "of resending it, drop unused tool schemas and retrieve fewer, shorter RAG chunks. "
           "Input tokens are usually most of the bill."),
        _L("tokens.cheaper-model", "Route routine calls to a cheaper model tier",
           "Send classification, extraction, routing and short replies to a small model "
           "(Haiku, mini or Flash class) and keep the large one for hard turns; compare quality "
           "on a sample of real traffic before switching."),
        _L("tokens.batch-api", "Move non-interactive work to the batch API",
           "Evals, backfills, tagging and nightly summaries need no answer in seconds: the "
           "OpenAI, Anthropic, Bedrock, Azure OpenAI and Vertex AI batch modes cost about half "
           "for results within 24 hours."),
    ),
    _C.GPU: (
        _L("gpu.stop-idle", "Stop idle GPU capacity",
           "Find instances, endpoints and notebooks with GPU utilisation near zero for hours "
           "(DCGM, nvidia-smi or the provider's metrics) and stop them; turn on idle shutdown "
           "for SageMaker, Azure ML and Vertex AI notebooks."),
        _L("gpu.schedule", "Schedule dev and test GPUs",
           "Run dev/test GPU capacity in working hours only, e.g. 08-19 UTC on weekdays, with an "
           "instance scheduler or scale-to-zero endpoints; that removes about two thirds of its "
           "hours."),
        _L("gpu.right-size", "Right-size GPU instances",
           "Match the card to the job: inference and small fine-tunes often fit an L4 or A10G "
           "instead of an A100/H100, or fewer GPUs per node. Check GPU memory and utilisation "
           "before the next deploy."),
        _L("gpu.spot-training", "Train on spot capacity with checkpoints",
           "Run interruptible training and batch inference on spot/preemptible GPUs "
           "(SageMaker managed spot, Azure low-priority, GCP Spot VMs) with frequent "
           "checkpoints; discounts are often 60-90%."),
        _L("gpu.commit-baseline", "Commit for the steady GPU baseline",
           "For GPU load that runs around the clock, cover the always-on floor with a "
           "reservation or savings plan sized to the lowest week, not the average; leave peaks "
           "on demand."),
    ),
    _C.LOGGING: (
        _L("logging.verbosity", "Lower log verbosity and sample debug logs",
           "Run production at INFO or WARN, sample DEBUG and per-request logs (1-10%) and stop "
           "logging full prompts, responses and payloads. Ingestion, not storage, is most of "
           "the bill."),
        _L("logging.exclusion-filters", "Drop noisy logs before ingestion",
           "Filter health checks, load-balancer chatter and noisy libraries at the agent or "
           "with exclusion filters (Cloud Logging sinks, Datadog indexes, Azure DCR "
           "transformations) before they are stored or indexed; most of their cost goes with "
           "them."),
        _L("logging.retention", "Shorten log retention",
           "Set an explicit retention per log group or workspace, e.g. 14-30 days for app "
           "logs; CloudWatch log groups keep everything forever by default."),
        _L("logging.cheaper-tier", "Move rarely read logs to a cheaper tier",
           "Send audit and rarely queried logs to a cheaper class (CloudWatch Infrequent "
           "Access, Azure Basic or Auxiliary logs, Datadog Flex) or archive them to object "
           "storage and query on demand."),
    ),
    _C.TRANSFER: (
        _L("transfer.same-region", "Keep traffic in one region and zone",
           "Put callers next to their data and models: same region, and the same zone for "
           "chatty services. Cross-region traffic is billed per GB, cross-AZ traffic on AWS in "
           "both directions."),
        _L("transfer.vpc-endpoints", "Use VPC endpoints instead of the NAT gateway",
           "Route S3 and DynamoDB through free gateway endpoints and other cloud APIs through "
           "interface endpoints or Private Google Access, so traffic skips the NAT gateway's "
           "per-GB processing fee."),
        _L("transfer.edge-cache", "Cache at the edge",
           "Serve static assets, downloads and cacheable API responses through a CDN "
           "(CloudFront, Front Door, Cloud CDN) with long TTLs, and raise the cache hit ratio "
           "before paying internet egress from the origin."),
        _L("transfer.compress", "Compress and batch what crosses the wire",
           "Turn on gzip, brotli or zstd for APIs and replication, send batches instead of "
           "single records, and move Parquet rather than JSON or CSV between services and "
           "regions."),
    ),
    _C.STORAGE: (
        _L("storage.lifecycle", "Add lifecycle rules",
           "Move objects untouched for 30+ days to infrequent-access or archive tiers, expire "
           "temp and staging prefixes, and delete old noncurrent versions and incomplete "
           "multipart uploads."),
        _L("storage.auto-tiering", "Turn on automatic tiering",
           "Where access is unpredictable, let S3 Intelligent-Tiering or GCS Autoclass (Azure: "
           "lifecycle on last access time) move objects instead of guessing the pattern."),
        _L("storage.orphans", "Delete orphaned volumes and snapshots",
           "Unattached disks, old snapshots and images of deleted instances keep billing; list "
           "them by age and owner, and delete what nobody claims after a final snapshot."),
        _L("storage.checkpoints", "Prune checkpoints and artefacts",
           "Keep the last few checkpoints per training run and the released models; old "
           "checkpoints, dataset copies and container images pile up fast in ML buckets and "
           "registries."),
    ),
    _C.COMPUTE: (
        _L("compute.autoscaling-bounds", "Tighten autoscaling bounds",
           "Check max replicas or instances and scale-in settings: a high ceiling, a slow "
           "scale-in or a metric stuck high (queue depth, CPU of a busy sidecar) keeps "
           "capacity up after the load is gone."),
        _L("compute.right-size", "Right-size instances and pod requests",
           "Bring instance sizes and CPU/memory requests down to p95 usage plus headroom "
           "(Compute Optimizer, Azure Advisor, GCP recommender, VPA) and move to current or ARM "
           "instance families."),
        _L("compute.off-hours", "Turn off non-prod out of hours",
           "Stop dev, test and staging VMs and scale non-prod node pools to zero at night and "
           "at weekends with an instance scheduler or scheduled scaling."),
        _L("compute.spot", "Run stateless and batch work on spot",
           "Put CI runners, batch jobs and stateless replicas on spot/preemptible capacity "
           "with a diversified instance mix and graceful handling of interruptions."),
        _L("compute.commit-baseline", "Cover the steady baseline with commitments",
           "Buy savings plans, reservations or CUDs for the always-on floor only, sized to the "
           "lowest usage of the last 30 days; keep the variable part on demand or spot."),
    ),
    _C.DATABASES: (
        _L("databases.right-size", "Right-size database capacity",
           "Size instances to p95 CPU and memory, drop unused read replicas, and move spiky or "
           "mostly idle databases to serverless or on-demand capacity (Aurora Serverless v2, "
           "DynamoDB on-demand, Azure SQL serverless)."),
        _L("databases.query-cost", "Cut bytes scanned by queries",
           "Partition and cluster big tables, select only needed columns, set byte limits "
           "(BigQuery maximum bytes billed, Athena workgroup limits) and fix the top queries by "
           "cost first."),
        _L("databases.stop-nonprod", "Stop or pause non-prod databases",
           "Stop dev and test instances out of hours (RDS restarts a stopped instance after 7 "
           "days, so schedule it) or use auto-pause where the engine offers it."),
        _L("databases.storage-io", "Trim storage, backups and I/O",
           "Drop unused indexes and stale tables, shorten backup retention outside prod, and "
           "compare I/O-heavy workloads against an I/O-optimised tier such as Aurora "
           "I/O-Optimized."),
        _L("databases.commit-baseline", "Reserve steady database capacity",
           "Cover always-on production instances with reserved instances or reserved capacity "
           "for the stable floor; leave dev, test and spiky workloads on demand."),
    ),
    _C.OTHER: (
        _L("other.find-owner", "Find the owner",
           "Look up who created or changed the resource (CloudTrail, Azure Activity Log, Cloud "
           "Audit Logs, account owner) and ask whether this spend is expected before changing "
           "anything."),
        _L("other.tag", "Tag it to a project and environment",
           "Add project, environment and owner tags, or an allocation rule, so the spend lands "
           "on a team and the next alert reaches the right channel."),
        _L("other.budget-alert", "Set a budget alert",
           "Create a budget for this service or account with alerts at 50, 80 and 100% of the "
           "expected month, so the next jump is caught within hours, not on the invoice."),
    ),
})

# Service names, tried in order; the first match wins. Word boundaries keep "log" out of
# "catalog" and "nat" out of "international".
_BY_NAME: tuple[tuple[re.Pattern[str], LeverCategory], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), category)
    for pattern, category in (
        (r"\bgpus?\b|\btpu|inferentia|trainium|coreweave|lambda labs|runpod", _C.GPU),
        (r"cloudwatch|cloudtrail|\blog(s|ging)?\b|\bmonitor(ing)?\b|"
         r"application insights|datadog|splunk|new ?relic|sumo ?logic|honeycomb|"
         r"grafana|stackdriver|observability", _C.LOGGING),
        (r"data transfer|bandwidth|egress|\bnat\b|\bcdn\b|cloudfront|front ?door|"
         r"interconnect|direct ?connect|expressroute|private ?link|\bvpc\b|"
         r"virtual private cloud|^networking$",
         _C.TRANSFER),
        (r"sagemaker|azure machine learning|\bml studio\b|vertex ai (training|workbench)",
         _C.GPU),
        (r"bedrock|openai|anthropic|claude|vertex ai|gemini|mistral|cohere|ai foundry|"
         r"ai services|cognitive services|groq|together ai|fireworks", _C.TOKENS),
        (r"\bs3\b|simple storage|\bblob\b|cloud storage|\bebs\b|elastic block|\befs\b|"
         r"glacier|file ?store|\bfiles\b|storage", _C.STORAGE),
        (r"\brds\b|aurora|dynamo|cosmos|\bsql\b|bigquery|redshift|athena|snowflake|"
         r"spanner|firestore|bigtable|elasticache|memorystore|redis|documentdb|mongo|"
         r"database", _C.DATABASES),
        (r"\bec2\b|elastic compute|virtual machine|compute engine|kubernetes|\beks\b|"
         r"\baks\b|\bgke\b|fargate|\blambda\b|functions|cloud run|app service|container|"
         r"\bemr\b|dataproc|databricks|\bbatch\b|ai search|cognitive search|opensearch|kendra",
         _C.COMPUTE),
    )
)

_FOCUS_CATEGORY: dict[str, LeverCategory] = {
    "compute": _C.COMPUTE,
    "storage": _C.STORAGE,
    "networking": _C.TRANSFER,
    "databases": _C.DATABASES,
}

_TOKEN_UNIT = re.compile(r"token", re.IGNORECASE)
_GPU_UNIT = re.compile(r"\bgpu", re.IGNORECASE)
_HOUR_UNIT = re.compile(r"\bhours?\b|\bhrs?\b|\bh\b", re.IGNORECASE)
_STORED_UNIT = re.compile(r"(gb|gib|tb|tib)[- ]?(mo|month)", re.IGNORECASE)
_VOLUME_UNIT = re.compile(r"\b(bytes?|[kmgt]i?b)\b", re.IGNORECASE)


def category_for(*, service_name: str, service_category: str = "",
                 usage_unit: str = "") -> LeverCategory:
    """The lever category of one billing line, matched case-insensitively.

    The unit decides first where it is unambiguous (tokens, GPU hours), then the service name,
    then a stored-volume unit (GB-months), then the FOCUS ServiceCategory with the unit; what
    matches nothing falls to OTHER, whose levers (find the owner, tag, budget) fit any spend.
    """
    name = (service_name or "").strip()
    focus = (service_category or "").strip().lower()
    unit = usage_unit or ""
    if _TOKEN_UNIT.search(unit):
        return _C.TOKENS
    if _GPU_UNIT.search(unit):
        return _C.GPU
    by_name = next((category for pattern, category in _BY_NAME if pattern.search(name)), None)
    if by_name is _C.TOKENS and _HOUR_UNIT.search(unit):
        return _C.GPU  # provisioned model capacity or training nodes, billed by the hour
    if by_name is not None:
        return by_name
    if _STORED_UNIT.search(unit):
        return _C.STORAGE
    return _by_focus_category(focus, unit)


def _by_focus_category(focus: str, unit: str) -> LeverCategory:
    if focus == "ai and machine learning":
        # hours of an ML service are instances, mostly accelerators; anything else is metered
        # per request like an LLM API
        return _C.GPU if _HOUR_UNIT.search(unit) else _C.TOKENS
    if focus == "analytics":
        # bytes scanned (BigQuery, Athena) are queries; hours are clusters (EMR, Dataproc)
        return _C.DATABASES if _VOLUME_UNIT.search(unit) else _C.COMPUTE
    if focus == "management and governance":
        # billed by volume, this is log and metric ingestion; config or audit APIs otherwise
        return _C.LOGGING if _VOLUME_UNIT.search(unit) else _C.OTHER
    return _FOCUS_CATEGORY.get(focus, _C.OTHER)


def levers_for(category: LeverCategory | str) -> list[Lever]:
    """The levers of one category, usual first move first.

    Raises ``ValueError`` for a name that is no category, rather than suggesting generic levers
    for what is most likely a typo or a stale stored value.
    """
    try:
        key = LeverCategory(str(category).strip().lower())
    except ValueError:
        known = ", ".join(member.value for member in LeverCategory)
        raise ValueError(f"no lever category {category!r}; use one of: {known}") from None
    return list(LEVERS[key])


def levers_for_services(services: Iterable[tuple[str, str]], *,
                        limit: int = MAX_SUGGESTED) -> list[Lever]:
    """Levers for an alert's top contributors, given as (service_name, service_category).

    Contributors come biggest first. Every distinct category gets a share: slots are dealt
    round-robin in contributor order, so the biggest contributor gets the most levers and a
    second kind of spend is not crowded out. Levers come out grouped by category, each
    lever once.
    """
    categories = list(dict.fromkeys(
        category_for(service_name=name, service_category=focus) for name, focus in services
    ))
    if not categories:
        return []
    candidates = {category: levers_for(category) for category in categories}
    taken = dict.fromkeys(categories, 0)
    remaining = limit
    while remaining > 0 and any(taken[c] < len(candidates[c]) for c in categories):
        for category in categories:
            if remaining > 0 and taken[category] < len(candidates[category]):
                taken[category] += 1
                remaining -= 1
    chosen = (lever for category in categories for lever in candidates[category][:taken[category]])
    return list({lever.id: lever for lever in chosen}.values())


def levers_with_estimates(levers: Sequence[PlaybookLever], figures: SpendFigures) -> list[Lever]:
    """A playbook's levers as the alert shows them: the how-to, then what it could save."""
    out = []
    for lever in levers:
        saves = estimate(lever.saves, figures).text(lambda amount: money(amount, decimals=0))
        out.append(Lever(lever.id, lever.title, f"{lever.how} {saves}", saves))
    return out

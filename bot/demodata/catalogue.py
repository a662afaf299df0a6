"""The lines of spend of the demo company: who spends what, where, and how it is tagged.

A line is one service of one (project, environment). ``hourly_usd`` is its typical hourly spend
(while running, for lines that only run some hours); each seed scales it a little. ``pattern``
names its shape in ``shapes``; ``role`` says which incidents can hit it; ``trap`` marks the
workloads whose normal life looks alarming to a naive detector.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

__all__ = ["DemoLine", "LINES", "PROVIDERS", "tags_json"]


@dataclass(frozen=True)
class DemoLine:
    project: str | None
    environment: str | None  # canonical: what the bot makes of the tag value
    owner: str | None
    provider: str
    service: str
    category: str
    unit: str
    hourly_usd: float
    pattern: str = "steady"  # steady | business | devapi | batch | bursty | monday | sandbox
    role: str = "other"  # llm | logging | compute | transfer | gpu | poc | other
    tag_style: str = "plain"
    env_tag: str | None = None  # the environment as written in the tag
    region: str = "us-east-1"
    amp: float = 0.3  # daily rhythm: amplitude around the mean
    peak: int = 15  # hour of day (UTC) of the daily peak
    weekend: float = 0.8  # weekend level against weekdays
    noise: float = 0.07
    growth: tuple[float, float] = (0.0, 0.002)  # daily growth rate, drawn per seed
    hours: tuple[int, int] = (8, 18)  # working or batch hours (UTC) for hour-bound patterns
    trap: str | None = None

    @property
    def workload(self) -> tuple[str, str]:
        return (self.project or "unallocated", self.environment or "unallocated")


# how teams write their tags: key spellings per style (project, environment, owner)
TAG_KEYS = {
    "plain": ("project", "environment", "owner"),
    "aliases": ("proj", "env", "team"),
    "capitalised": ("Project", "Environment", "Owner"),
    "mixed": ("Project", "env", "team"),
    "aws-user": ("user:Project", "user:Environment", "user:owner"),
}

# provider -> (FOCUS ProviderName, billing account id, file slug)
PROVIDERS = {
    "AWS": ("AWS", "210987654321", "aws"),
    "Azure": ("Microsoft", "8a1f0c3e-demo-billing", "azure"),
    "Google": ("Google Cloud", "01A2B3-C4D5E6-F7A8B9", "gcp"),
    "OpenAI": ("OpenAI", "org-demo-7f3k", "openai"),
    "Anthropic": ("Anthropic", "anthropic-org-demo", "anthropic"),
}


def tags_json(line: DemoLine) -> str:
    if line.tag_style == "none":
        return ""
    keys = TAG_KEYS[line.tag_style]
    values = (line.project, line.env_tag or line.environment, line.owner)
    return json.dumps(dict(zip(keys, values, strict=True)))


AI, COMPUTE, NET = "AI and Machine Learning", "Compute", "Networking"
MGMT = "Management and Governance"
L = DemoLine

LINES: tuple[DemoLine, ...] = (
    # a high-volume support agent on Bedrock, the classic home of a verbose-logging incident
    L("support-agent", "prod", "team-support", "AWS", "Amazon Bedrock", AI, "Tokens", 18.0,
      role="llm", tag_style="aws-user", env_tag="production", amp=0.35, weekend=0.75),
    L("support-agent", "prod", "team-support", "AWS", "AmazonCloudWatch", MGMT, "GB", 1.4,
      role="logging", tag_style="aws-user", env_tag="production"),
    L("support-agent", "prod", "team-support", "AWS", "Amazon EC2", COMPUTE, "Hours", 6.0,
      role="compute", tag_style="aws-user", env_tag="production", amp=0.25),
    L("support-agent", "prod", "team-support", "AWS", "AWS Data Transfer", NET, "GB", 1.1,
      role="transfer", tag_style="aws-user", env_tag="production"),
    L("support-agent", "staging", "team-support", "AWS", "Amazon Bedrock", AI, "Tokens", 1.8,
      role="llm", env_tag="staging", amp=0.5, weekend=0.4, noise=0.15),
    L("support-agent", "staging", "team-support", "AWS", "AmazonCloudWatch", MGMT, "GB", 0.25,
      env_tag="staging", amp=0.4, weekend=0.5, noise=0.12),
    L("research-agent", "prod", "team-research", "Anthropic", "Anthropic API", AI, "Tokens",
      9.0, role="llm", tag_style="capitalised", env_tag="Prod", region="global", peak=14,
      noise=0.1),
    L("research-agent", "prod", "team-research", "AWS", "AWS Fargate", COMPUTE, "Hours", 2.2,
      tag_style="capitalised", env_tag="Prod", amp=0.2, peak=14),
    L("docs-copilot", "prod", "team-docs", "Azure", "Azure OpenAI Service", AI, "Tokens", 7.5,
      role="llm", tag_style="mixed", env_tag="prd", region="westeurope", peak=11, amp=0.4),
    L("docs-copilot", "prod", "team-docs", "Azure", "Azure Monitor", MGMT, "GB", 1.1,
      role="logging", tag_style="mixed", env_tag="prd", region="westeurope", peak=11),
    L("docs-copilot", "prod", "team-docs", "Azure", "Azure Kubernetes Service", COMPUTE, "Hours",
      4.0, role="compute", tag_style="mixed", env_tag="prd", region="westeurope", peak=11,
      amp=0.2),
    L("docs-copilot", "prod", "team-docs", "Azure", "Bandwidth", NET, "GB", 0.8, role="transfer",
      tag_style="mixed", env_tag="prd", region="westeurope", peak=11),
    L("search-api", "prod", "team-search", "Google", "Vertex AI", AI, "Tokens", 6.0, role="llm",
      region="us-central1", peak=16),
    L("search-api", "prod", "team-search", "Google", "Cloud Logging", MGMT, "GB", 1.6,
      role="logging", region="us-central1", peak=16),
    L("search-api", "prod", "team-search", "Google", "Compute Engine", COMPUTE, "Hours", 8.0,
      role="compute", region="us-central1", peak=16, amp=0.2),
    L("search-api", "prod", "team-search", "Google", "Networking", NET, "GB", 2.0,
      role="transfer", region="us-central1", peak=16),
    L("feature-store", "prod", "team-data", "AWS", "AWS Data Transfer", NET, "GB", 2.5,
      role="transfer", tag_style="aliases", amp=0.2, weekend=0.9),
    L("feature-store", "prod", "team-data", "AWS", "Amazon S3", "Storage", "GB-Mo", 3.0,
      tag_style="aliases", amp=0.03, weekend=0.98, noise=0.02),
    L("feature-store", "prod", "team-data", "AWS", "Amazon EMR", "Analytics", "Hours", 5.0,
      tag_style="aliases", amp=0.25, weekend=0.85),
    L("checkout-assistant", "prod", "team-commerce", "OpenAI", "OpenAI API", AI, "Tokens", 5.0,
      role="llm", env_tag="production", region="global", peak=17, amp=0.45, weekend=0.9),
    L("checkout-assistant", "prod", "team-commerce", "AWS", "Amazon EC2", COMPUTE, "Hours", 3.0,
      role="compute", env_tag="production", peak=17, amp=0.3),
    L("recsys", "staging", "team-recs", "Google", "Compute Engine", COMPUTE, "Hours", 4.0,
      role="compute", tag_style="aliases", env_tag="stage", region="us-central1", amp=0.15,
      weekend=0.9),
    L("recsys", "staging", "team-recs", "Google", "BigQuery", "Analytics", "TB", 1.0,
      tag_style="aliases", env_tag="stage", region="us-central1", amp=0.3, weekend=0.7,
      noise=0.12),
    # normal life that looks alarming: these must not alert
    L("campaign-writer", "prod", "team-marketing", "OpenAI", "OpenAI API", AI, "Tokens", 4.0,
      pattern="bursty", tag_style="capitalised", env_tag="Production", region="global",
      amp=0.4, weekend=0.6, noise=0.12, trap="bursty-normal"),
    L("risk-scoring", "prod", "team-risk", "AWS", "Amazon SageMaker", AI, "Hours", 22.0,
      pattern="batch", tag_style="aws-user", hours=(1, 4), trap="nightly-batch"),
    L("hackweek-sandbox", "sandbox", "intern-program", "OpenAI", "OpenAI API", AI, "Tokens",
      0.05, pattern="sandbox", tag_style="aliases", env_tag="sbx", region="global",
      trap="tiny-dollar-impact"),
    L("crm-assistant", "prod", "team-sales", "Anthropic", "Anthropic API", AI, "Tokens", 6.0,
      pattern="monday", tag_style="mixed", region="global", amp=0.45, trap="monday-ramp"),
    L("platform-core", "prod", "team-platform", "AWS", "Amazon EC2", COMPUTE, "Hours", 12.0,
      amp=0.1, weekend=0.95, noise=0.03, trap="commitment-purchase-and-credit"),
    L("platform-core", "prod", "team-platform", "AWS", "Amazon EKS", COMPUTE, "Hours", 1.5,
      amp=0.02, weekend=1.0, noise=0.02, trap="commitment-purchase-and-credit"),
    L("kb-search", "prod", "team-knowledge", "Azure", "Azure OpenAI Service", AI, "Tokens", 3.0,
      tag_style="capitalised", env_tag="Production", region="eastus", growth=(0.007, 0.014),
      trap="organic-growth"),
    L("kb-search", "prod", "team-knowledge", "Azure", "Azure AI Search", AI, "Hours", 1.5,
      tag_style="capitalised", env_tag="Production", region="eastus", amp=0.05, weekend=1.0,
      noise=0.02, growth=(0.003, 0.006), trap="organic-growth"),
    # development: GPUs in working hours, proofs of concept on LLM APIs
    L("vision-train", "dev", "team-vision", "AWS", "Amazon SageMaker", AI, "Hours", 14.0,
      pattern="business", role="gpu", tag_style="aws-user", hours=(7, 17)),
    L("speech-lab", "dev", "team-speech", "Azure", "Azure Machine Learning", AI, "Hours", 9.0,
      pattern="business", role="gpu", tag_style="mixed", env_tag="development",
      region="westeurope", hours=(8, 18)),
    L("llm-finetune", "dev", "team-ml", "Google", "Compute Engine", COMPUTE, "Hours", 11.0,
      pattern="business", role="gpu", region="us-central1", hours=(13, 22)),
    L("pricing-assist", "dev", "team-pricing", "OpenAI", "OpenAI API", AI, "Tokens", 0.8,
      pattern="devapi", role="poc", region="global", hours=(8, 18)),
    L("contract-review", "dev", "team-legal", "Anthropic", "Anthropic API", AI, "Tokens", 0.6,
      pattern="devapi", role="poc", tag_style="capitalised", env_tag="Dev", region="global",
      hours=(13, 22)),
    # nobody tagged the shared database
    L(None, None, None, "AWS", "Amazon RDS", "Databases", "Hours", 2.2, tag_style="none",
      amp=0.1, weekend=0.95, noise=0.03),
)

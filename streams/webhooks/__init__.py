"""Optional on-call feed: alerts and resolves posted to a webhook (generic, Slack, PagerDuty)."""

from streams.webhooks.formats import FORMATS, Page, render
from streams.webhooks.sink import WebhookSink

__all__ = ["FORMATS", "Page", "WebhookSink", "render"]

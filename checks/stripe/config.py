"""The `[stripe]` settings section. The API key is not a setting: it comes from
the STRIPE_API_KEY environment variable only (see checks/stripe/client.py)."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

API_KEY_ENV = "STRIPE_API_KEY"
_ACCOUNT = re.compile(r"^acct_[A-Za-z0-9]+$")


class StripeSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    api_base: str = Field(
        default="https://api.stripe.com", description="API base address (a test server's)"
    )
    max_network_retries: int = Field(
        default=2, ge=0, le=5, description="stripe-python retries of 5xx and network errors"
    )
    timeout: float = Field(default=20.0, gt=0, le=120, description="seconds per HTTP request")
    rate_limit_retries: int = Field(
        default=2, ge=0, le=5, description="bounded retries of a 429 before the check is UNKNOWN"
    )
    max_backoff_seconds: float = Field(
        default=10.0, ge=0, le=60, description="cap on one 429 back-off (Retry-After included)"
    )
    state_url: str | None = Field(
        default=None,
        description="where event cursors and window counts live; default: the [state] store",
    )
    accounts: tuple[str, ...] = Field(
        default=(), description="Connect accounts (acct_...) to check; none means the platform"
    )

    @field_validator("api_base")
    @classmethod
    def _base(cls, v: str) -> str:
        if not v.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL such as https://api.stripe.com")
        return v.rstrip("/")

    @field_validator("accounts")
    @classmethod
    def _accounts(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for acct in v:
            if not _ACCOUNT.match(acct):
                raise ValueError(f"{acct!r} is not a Stripe account id (acct_...)")
        if len(set(v)) != len(v):
            raise ValueError("an account is listed twice")
        return v

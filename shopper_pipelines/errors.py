"""Every error GPU Shopper raises on purpose, in one shallow tree.

Messages name the field and the value that was found, and never carry a secret.
"""


class ShopperError(Exception):
    """Base for errors that the CLI and the app show to people as they are."""


class SettingsError(ShopperError):
    """A setting from the environment or `.env` is missing or invalid."""


class WarehouseBusyError(ShopperError):
    """The DuckDB file stayed locked by another process past the retry bound."""


class WarehouseError(ShopperError):
    """The warehouse file cannot be opened or created (wrong path, not DuckDB, no access)."""


class WarehouseMissingError(ShopperError):
    """A read found no warehouse file: nothing has been ingested yet."""


class InvalidInputError(ShopperError):
    """A user-supplied value (CLI flag, widget, file) is not acceptable."""


class ProviderError(ShopperError):
    """A marketplace call failed; `provider` says which marketplace."""

    def __init__(self, provider: str, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.status = status


class ProviderAuthError(ProviderError):
    """The provider rejected our credentials (401/403)."""


class RateLimitedError(ProviderError):
    """429 persisted through every retry."""


class ProviderDownError(ProviderError):
    """5xx, timeouts or connection failures persisted through every retry."""


class BadRequestError(ProviderError):
    """The provider refused the request itself (4xx other than auth and rate limits)."""


class OfferGoneError(ProviderError):
    """The offer was rented or withdrawn between search and rent."""


class MalformedResponseError(ProviderError):
    """The provider answered 2xx with a body we cannot read."""


class CreateFailedError(ProviderError):
    """A create call failed but the provider may have made an instance anyway.

    `instance_id` is set when the error body named one (Vast's `new_contract`): the
    caller must destroy it.
    """

    def __init__(
        self, provider: str, message: str, *, instance_id: str | None, status: int | None = None
    ) -> None:
        super().__init__(provider, message, status=status)
        self.instance_id = instance_id


class BudgetExceededError(ShopperError):
    """Renting would take a consumer (or everyone) past a refusing budget; nothing rented."""

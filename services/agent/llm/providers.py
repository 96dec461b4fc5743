"""Which model providers this agent service can use, chosen once at start-up from settings."""

from __future__ import annotations

from collections.abc import Mapping

from services.common.errors import InvalidArgument

from .openai_compatible import OpenAICompatibleModel
from .scripted import ScriptedModel
from .types import ChatModel

OPENAI = "openai"
SCRIPTED = "scripted"
DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"


class ProviderRegistry:
    """Maps the provider name an agent names to the :class:`ChatModel` that serves it."""

    def __init__(self, *, models: Mapping[str, ChatModel], default_provider: str):
        if default_provider not in models:
            raise ValueError(f"default provider {default_provider!r} is not registered")
        self._models = dict(models)
        self._default = default_provider

    @property
    def default_provider(self) -> str:
        """The provider used when an agent names none."""
        return self._default

    @property
    def names(self) -> tuple[str, ...]:
        """The registered provider names, sorted."""
        return tuple(sorted(self._models))

    def get(self, name: str) -> ChatModel:
        """The model for ``name`` (an empty name means the default provider).

        Raises :class:`InvalidArgument` naming the known providers when ``name`` is unknown.
        """
        model = self._models.get(name or self._default)
        if model is None:
            raise InvalidArgument.field(
                "provider", f"unknown provider {name!r}; known providers: {', '.join(self.names)}"
            )
        return model

    async def aclose(self) -> None:
        """Close every provider, even if one of them fails to close."""
        errors: list[BaseException] = []
        for model in self._models.values():
            try:
                await model.aclose()
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise errors[0]


def build_providers(*, openai_base_url: str | None, openai_api_key: str | None) -> ProviderRegistry:
    """Register "openai" when a base URL or key is configured, and always the offline "scripted" model.

    The default is the real provider whenever one is configured, so a misconfigured deployment never
    answers from the scripted model without anyone noticing.
    """
    models: dict[str, ChatModel] = {SCRIPTED: ScriptedModel()}
    if openai_base_url or openai_api_key:
        models[OPENAI] = OpenAICompatibleModel(
            base_url=openai_base_url or DEFAULT_OPENAI_BASE_URL, api_key=openai_api_key
        )
    return ProviderRegistry(models=models, default_provider=OPENAI if OPENAI in models else SCRIPTED)

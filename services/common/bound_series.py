"""Recording into one series (an instrument with one set of attributes) at a fraction of the SDK's
cost per measurement.

The OpenTelemetry SDK cleans, copies and hashes a measurement's attributes at every recording:
about 10 µs of CPU on this project's machine, and a message makes some thirty recordings across
the services, which cost more than the 3% of throughput metrics may take. The attributes of a
series never change, so after a first recording through the public API (which creates the series'
aggregations in every reader) a :class:`BoundSeries` hands later measurements straight to those
aggregations, as the SDK itself would after its lookups.

This reads SDK internals (``opentelemetry-sdk`` is pinned in constraints.txt); wherever they do not
look as expected (another SDK version, delta temporality, which replaces aggregations at each
collection, a view that filters attributes) the series keeps recording through the public API.
``tests/unit/test_metrics.py`` checks both paths export the same data.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.context import Context

_NO_CONTEXT = Context()
Measurement: Any = None
"""The SDK's measurement class, imported with the first series that has an SDK behind it (a
process without metrics never loads the SDK)."""


class BoundSeries:
    """``series(value)`` records ``value`` on ``instrument`` with ``attributes``."""

    __slots__ = ("_aggregations", "_attributes", "_instrument", "_public")

    def __init__(self, instrument, attributes: dict | None, *, histogram: bool):
        self._instrument = instrument
        self._attributes = attributes
        self._public = instrument.record if histogram else instrument.add
        self._aggregations: tuple | None = None
        """None until the first recording; then the aggregations to feed, or () for the public path."""

    def __call__(self, value: float) -> None:
        aggregations = self._aggregations
        if aggregations:
            measurement = Measurement(value, 0, self._instrument, _NO_CONTEXT, None)
            for aggregation in aggregations:
                aggregation.aggregate(measurement, False)
            return
        self._public(value, self._attributes)
        if aggregations is None:
            self._aggregations = _aggregations_of(self._instrument, self._attributes)

    @property
    def bound(self) -> bool:
        """Whether recordings skip the public API (after the first one)."""
        return bool(self._aggregations)


def _aggregations_of(instrument, attributes: dict | None) -> tuple:
    """The SDK's aggregations of this series in every reader, or () when they cannot be fed safely."""
    global Measurement
    consumer = getattr(instrument, "_measurement_consumer", None)
    if consumer is None:  # the API's no-op instrument
        return ()
    try:
        from opentelemetry.sdk.metrics._internal._view_instrument_match import _hash_attributes
        from opentelemetry.sdk.metrics._internal.measurement import Measurement
    except ImportError:  # another SDK: the public path only
        return ()
    try:
        if consumer._sdk_config.exemplar_filter.__class__.__name__ != "AlwaysOffExemplarFilter":
            return ()
        key = _hash_attributes(dict(attributes or {}))
        found = []
        for storage in consumer._reader_storages.values():
            for match in storage._get_or_init_view_instrument_match(instrument):
                if match._reset_on_collect or match._view._attribute_keys is not None:
                    return ()
                aggregation = match._attributes_aggregation.get(key)
                if aggregation is None:
                    return ()
                found.append(aggregation)
        return tuple(found)
    except (AttributeError, TypeError):
        return ()

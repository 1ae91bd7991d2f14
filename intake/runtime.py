"""The running service's parts, built once from Settings and passed to every stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from intake.config import Settings
from intake.db.engine import make_engine
from intake.decide.reference import ReferenceCache
from intake.store.raw import RawStore

if TYPE_CHECKING:
    from intake.decide.resolver import Resolver
    from intake.extract import Extractor


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    store: RawStore
    extractor: Extractor | None = None
    # The sender check's DNS (DKIM, DMARC and SPF lookups); None: the machine's resolver.
    dns: Resolver | None = None
    # The active cases and invited bodies, kept between messages while no sync changes them.
    reference: ReferenceCache = field(default_factory=ReferenceCache)

    @classmethod
    def open(cls, settings: Settings, *, extract: bool = True) -> Runtime:
        """Builds the engine, the raw store and (unless told not to) the extraction pool."""
        extractor = None
        if extract:
            from intake.extract import make_extractor

            extractor = make_extractor(settings.extract)
        return cls(
            settings=settings,
            engine=make_engine(settings.database.url),
            store=RawStore(settings.storage.path),
            extractor=extractor,
        )

    @property
    def own_addresses(self) -> frozenset[str]:
        """Addresses that are ours: never a respondent, never a receipt recipient."""
        s = self.settings
        addresses = {s.smtp.from_address, *s.receiver.recipients, *s.processing.own_addresses}
        addresses.update(box.username for box in s.mailboxes if "@" in box.username)
        return frozenset(a.strip().lower() for a in addresses if a and "@" in a)

    def close(self) -> None:
        if self.extractor is not None:
            self.extractor.close()
        self.store.close()
        self.engine.dispose()

"""Opening the store's keyring for a process: master keys from the settings, data keys checked.

A store without a keyring gets one on first open (with a first master key if none is configured):
`make run` needs nothing set up by hand. A store that has one refuses to open with master keys
that do not match (missing, wrong, or a newer version not yet rotated in), before anything is
written with them.
"""

from __future__ import annotations

from typing import Any

from archive.data_keys import DataKeys
from archive.master_keys import MasterKeys
from archive.shredding_register import ShreddingRegister
from archive.sql import Database
from service.settings import Settings


def master_keys(settings: Settings) -> MasterKeys:
    if settings.master_keys is not None:
        return MasterKeys.from_secret(settings.master_keys.get_secret_value())
    return MasterKeys.from_directory(settings.master_dir)


def open_data_keys(settings: Settings, recorder: Any, *, may_init: bool = True) -> DataKeys:
    db = Database(recorder.datastore)
    keys = DataKeys(db, master_keys(settings), cache_seconds=settings.key_cache_seconds)
    keys.register = ShreddingRegister(settings.shredding_register_path)
    keys.open(events_table=db.table(recorder.events_table_name), may_init=may_init)
    recorder.data_keys = keys
    return keys

"""Dataset versions and the data around them: frozen versions (`build`, `versions`), training
examples (`examples`), their files (`export`), evaluation sets kept out of training (`evalsets`),
and preference pairs for DPO (`preferences`)."""
from curate.datasets.build import DatasetConfig, build_dataset
from curate.datasets.versions import get_version, version_items, versions_frame

__all__ = ["DatasetConfig", "build_dataset", "get_version", "version_items", "versions_frame"]

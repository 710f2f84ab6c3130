"""Small real training sets built once per test session from ../shared/data."""

from __future__ import annotations

import itertools

import pytest

from train.data import TrainingSet, build, challenge_examples, code15_examples, ptbxl_examples


@pytest.fixture(scope="session")
def ptbxl_root(shared_data_dir):
    return shared_data_dir / "ptbxl_subset"


@pytest.fixture(scope="session")
def small_set(tmp_path_factory, ptbxl_root, shared_data_dir) -> TrainingSet:
    """40 real PTB-XL records (500 Hz) + 4 CinC 2021 + 2 CODE-15% records."""
    out = tmp_path_factory.mktemp("sets") / "small"
    examples = itertools.chain(
        itertools.islice(ptbxl_examples(ptbxl_root), 40),
        itertools.islice(challenge_examples(shared_data_dir / "cinc2021_sample"), 4),
        itertools.islice(code15_examples(shared_data_dir / "code15_sample"), 2),
    )
    build(examples, out, progress=False)
    return TrainingSet(out)


@pytest.fixture(scope="session")
def cinc2017_set(tmp_path_factory, shared_data_dir) -> TrainingSet:
    """60 real CinC 2017 AliveCor recordings, built with lead I only."""
    from train.data import cinc2017_examples
    from train.data.single_lead import SingleLeadSet  # noqa: F401 - import check for the view module

    out = tmp_path_factory.mktemp("sets") / "cinc2017"
    build(itertools.islice(cinc2017_examples(shared_data_dir / "cinc2017_subset"), 60), out, leads=("I",),
          progress=False)
    return TrainingSet(out)

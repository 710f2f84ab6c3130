"""Long records on the Review page: the reviewer picks which 10 s the model scores; the page says so."""

from __future__ import annotations

from sqlalchemy import select

from db.models import PredictionRun
from db.session import Database
from tests.app.conftest import sign_in
from tests.conftest import SAMPLES_DIR


def _upload(at, paths) -> None:  # noqa: ANN001
    at.file_uploader[0].set_value([(p.name, p.read_bytes(), "application/octet-stream") for p in paths]).run()
    [b for b in at.button if b.label == "Import upload"][0].click().run()
    assert not at.exception, at.exception


def test_a_long_record_is_scored_on_the_chosen_window(team: Database) -> None:
    at = sign_in("carla")
    hea = SAMPLES_DIR / "ptbdb" / "s0010_re.hea"  # 38.4 s at 1 kHz
    _upload(at, [hea, hea.with_suffix(".dat"), hea.with_suffix(".xyz")])
    window = [s for s in at.slider if s.label.startswith("Window the model reads")]
    assert window, "a record longer than 10 s must offer the choice of the scored window"
    assert any("The model read 0.0-10.0 s of this 38.4-s record" in c.value for c in at.caption)
    window[0].set_value(25.0).run()
    assert not at.exception
    assert any("The model read 25.0-35.0 s" in c.value for c in at.caption)
    with team.transaction() as session:
        windows = sorted(session.scalars(select(PredictionRun.window_start_s)).all())
    assert 25.0 in windows and 0.0 in windows  # each window's prediction stored with its start


def test_a_ten_second_record_offers_no_window(team: Database) -> None:
    at = sign_in("carla")
    hea = SAMPLES_DIR / "ptbxl" / "00008_hr.hea"
    _upload(at, [hea, hea.with_suffix(".dat")])
    assert not [s for s in at.slider if s.label.startswith("Window the model reads")]
    assert not any("The model read" in c.value for c in at.caption)

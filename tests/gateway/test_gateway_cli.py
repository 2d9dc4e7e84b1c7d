"""`kassa gateway` as a person runs it: the configuration file and its
errors, the status tables and JSON, Ctrl-C, the missing link client, and the
gateway process killed with SIGKILL mid-sync, again and again: nothing lost,
nothing twice."""
from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gateway_site import SITE, Site, exactly_once, raws_of, site  # noqa: F401 (site: the fixture)
from test_gateway_downloads import publish_snapshot, targets

from host_tools.cli import main
from host_tools.gateway.config import ConfigError, load

RUN = [sys.executable, str(Path(__file__).parent / "run_gateway.py")]
DOCS = Path(__file__).resolve().parents[2] / "docs" / "gateway.md"


def write_config(site: Site, names: list[str], delay_s: float = 0.0, extra: str = "") -> Path:
    cred = site.tmp / "site.credential"
    cred.write_text(site.token + "\n")
    cred.chmod(0o600)
    tills = "".join(f'\n[[till]]\nname = "{n}"\nurl = "fake:{site.tmp / "tills" / n}'
                    + (f'?delay={delay_s}' if delay_s else "") + '"\n' for n in names)
    path = site.tmp / "gateway.toml"
    path.write_text(f'site = "{SITE}"\nrelay_url = "{site.relay.url}"\ncredential_file = "site.credential"\n'
                    'outbox = "gw/outbox.sqlite3"\npictures = "gw/pictures"\n'
                    '[retry]\nattempts = 2\nbase_s = 0.01\ncap_s = 0.05\n'
                    '[upload]\nbatch_records = 20\nread_records = 10\n' + extra + tills)
    return path


def gateway_cli(*args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(RUN + list(args), capture_output=True, text=True, timeout=timeout_s)


def test_sync_and_status_from_the_command_line(site: Site) -> None:
    site.add_till("till-1", sales=30)
    site.add_till("till-2", sales=10, seed=3)
    cfg = write_config(site, ["till-1", "till-2"])
    r = gateway_cli("gateway", "status", str(cfg), "--json")
    assert r.returncode == 0, r.stderr
    before = json.loads(r.stdout)
    assert [(x["till"], x["direction"], x["status"], x["reason"]) for x in before["runs"]] == [
        ("(site)", "down", "Not started", "never run")] + [
        (t, d, "Not started", "never run") for t in ("till-1", "till-2") for d in ("up", "acks", "down")]
    r = gateway_cli("gateway", "sync", str(cfg), "--till", "till-2")
    assert r.returncode == 0, r.stderr
    assert "till-2 up: Success" in r.stderr and "till-1" not in r.stderr + r.stdout
    assert re.search(r"till-2\s.*up\s.*Success", r.stdout)
    assert site.held_at_ho("till-2") == list(range(1, 11)) and site.held_at_ho("till-1") == []
    (site.tmp / "tills" / "till-1" / "till.key").rename(site.tmp / "tills" / "till-1" / "key.away")
    r = gateway_cli("gateway", "sync", str(cfg))
    assert r.returncode == 1, r.stderr  # till-1 cannot be reached: the run reports a failure
    assert "till-1 up: Failed: the till did not answer at fake:" in r.stderr
    assert "till-2 up: Success" in r.stderr
    r = gateway_cli("gateway", "status", str(cfg))
    assert r.returncode == 0, r.stderr
    assert re.search(r"till-1\s.*acks\s.*Not started\s.*the till did not", r.stdout), r.stdout
    assert "Tills" in r.stdout and "waiting upload" in r.stdout
    status = json.loads(gateway_cli("gateway", "status", str(cfg), "--json", "--last", "5").stdout)
    assert [x["status"] for x in status["runs"] if x["till"] == "till-2" and x["direction"] == "up"] == \
        ["Success", "Success"]
    t2 = [t for t in status["tills"] if t["till"] == "till-2"][0]
    assert t2["head_seq"] == 10 and t2["waiting"] == 0 and t2["till_id"] == "S001/till-2"


def test_ctrl_c_ends_a_scheduled_gateway_with_one_line(site: Site) -> None:
    site.add_till("till-1", sales=5)
    cfg = write_config(site, ["till-1"])
    proc = subprocess.Popen(RUN + ["gateway", "sync", str(cfg), "--every", "1h", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("next run at"):
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert err.strip().splitlines() == [
        "kassa gateway: stopped (Ctrl-C); what was read stays in the outbox for the next run"]


BAD = {
    "not toml": ("site = ", "is not valid TOML"),
    "missing site": ("relay_url = 'http://x'", "site: missing"),
    "bad site": ("site = 'S 1'", "site: site id 'S 1' is not valid"),
    "bad url": ("site = 'S001'\nrelay_url = 'ftp://x'", "relay_url: must be an http:// or https://"),
    "unknown key": ("site = 'S001'\nrelay = 'x'", "relay: unknown setting"),
    "both credentials": ("{base}\ncredential_file = 'c'\n{till}", "give exactly one of credential or credential_file"),
    "not a credential": ("{base_nocred}\ncredential = 'hunter2'\n{till}", "credential: is not a site credential"),
    "other site's credential": ("{base_nocred}\ncredential = 'site.S002.abc'\n{till}",
                                "is the credential of site S002, not of site S001"),
    "no tills": ("{base}", "till: name at least one till"),
    "till without url": ("{base}\n[[till]]\nname = 'till-1'", "till #1.url: missing"),
    "bad till name": ("{base}\n[[till]]\nname = 'till 1'\nurl = 'socket://h:1'", "till #1.name: till name"),
    "till twice": ("{base}\n{till}\n{till}", "till #2.name: till till-1 is named twice"),
    "bad retry": ("{base}\n[retry]\nattempts = 0\n{till}", "retry.attempts: must be a whole number of at least 1"),
    "retry not a number": ("{base}\n[retry]\nbase_s = 'soon'\n{till}", "retry.base_s: must be a number"),
    "batch over the relay's limit": ("{base}\n[upload]\nbatch_records = 5000\n{till}",
                                     "upload: a batch is at most 2000 records"),
    "credential file open to others": ("{base_nocred}\ncredential_file = 'open.cred'\n{till}",
                                       "can be read by other users (mode 644); make it private with: chmod 600"),
    "credential file missing": ("{base_nocred}\ncredential_file = 'nope.cred'\n{till}", "cannot read"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_configuration_file_says_which_file_which_key_and_what(tmp_path: Path, case: str,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    text, want = BAD[case]
    base_nocred = "site = 'S001'\nrelay_url = 'http://127.0.0.1:1'\noutbox = 'o.db'\npictures = 'p'"
    (tmp_path / "open.cred").write_text("site.S001.abc")
    (tmp_path / "open.cred").chmod(0o644)
    text = text.format(base=base_nocred + "\ncredential = 'site.S001.abc'", base_nocred=base_nocred,
                       till="[[till]]\nname = 'till-1'\nurl = 'socket://127.0.0.1:1'")
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load(path)
    assert str(exc.value).startswith(str(path)) and want in str(exc.value), str(exc.value)
    for command in ("sync", "status"):
        assert main(["gateway", command, str(path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("kassa gateway: ") and want in err and "Traceback" not in err


def test_a_missing_file_and_an_unknown_till(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gateway", "status", str(tmp_path / "none.toml")]) == 2
    assert "none.toml: cannot read the configuration file" in capsys.readouterr().err
    path = tmp_path / "g.toml"
    path.write_text("site = 'S001'\nrelay_url = 'http://127.0.0.1:1'\ncredential = 'site.S001.abc'\n"
                    "outbox = 'o.db'\npictures = 'p'\n[[till]]\nname = 'till-1'\nurl = 'socket://127.0.0.1:1'\n")
    assert main(["gateway", "sync", str(path), "--till", "till-7"]) == 2
    assert "no till named 'till-7' (the file names till-1)" in capsys.readouterr().err
    assert main(["gateway", "sync", str(path), "--every", "soon"]) == 2
    assert "write the interval as a number and a unit" in capsys.readouterr().err
    config = load(path)
    assert config.outbox == tmp_path / "o.db" and config.pictures == tmp_path / "p"  # beside the file


def test_the_example_in_the_docs_is_a_valid_configuration(tmp_path: Path) -> None:
    example = re.search(r"```toml\n(.*?)```", DOCS.read_text(), re.S)
    assert example is not None, "docs/gateway.md shows an example configuration"
    text = example.group(1)
    cred = re.search(r'credential_file = "([^"]+)"', text)
    assert cred is not None
    text = text.replace(cred.group(1), str(tmp_path / "site.credential"))
    (tmp_path / "site.credential").write_text("site.S001.abc\n")
    (tmp_path / "site.credential").chmod(0o600)
    (tmp_path / "gateway.toml").write_text(text)
    config = load(tmp_path / "gateway.toml")
    assert config.site == "S001" and len(config.tills) >= 2


def test_the_gateway_killed_mid_sync_again_and_again_loses_nothing_and_doubles_nothing(site: Site) -> None:
    rnd = random.Random(int(os.environ.get("KASSA_SEED", "7")))
    for n, seed in (("till-1", 1), ("till-2", 2)):
        site.add_till(n, sales=150, seed=seed)
    cfg = write_config(site, ["till-1", "till-2"], delay_s=0.02)
    raws = {n: raws_of(site, n) for n in site.tills}
    snapshot = publish_snapshot(site, 1)  # and a package on its way down meanwhile
    kills = int(os.environ.get("KASSA_GATEWAY_KILLS", "6"))
    for k in range(kills):
        proc = subprocess.Popen(RUN + ["gateway", "sync", str(cfg)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert proc.stderr is not None
        proc.stderr.readline()  # the run has started (a step is In progress) ...
        time.sleep(rnd.uniform(0.0, 0.4))  # ... and is killed somewhere in it
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
        if rnd.random() < 0.5:
            site.relay.process()
        if k % 2:
            for n in site.tills:  # the tills keep selling between runs
                site.sell(n, 5, seed=100 + k)
                raws[n].update(raws_of(site, n))
    for _ in range(2):  # finish: upload the rest, then pass HO's PROCESSED back
        r = gateway_cli("gateway", "sync", str(cfg), "--quiet")
        assert r.returncode == 0, r.stdout + r.stderr
        site.relay.process()
    r = gateway_cli("gateway", "sync", str(cfg), "--quiet")
    assert r.returncode == 0, r.stdout + r.stderr
    for n, t in site.tills.items():
        exactly_once(site, n, raws[n])
        assert t.hello().processed_seq == t.hello().head_seq == max(raws[n])
    assert targets(site, snapshot) == {"till-1": ("PROCESSED", None), "till-2": ("PROCESSED", None)}
    status = json.loads(gateway_cli("gateway", "status", str(cfg), "--json", "--last", "20").stdout)
    assert all(t["held"] == 0 for t in status["tills"])  # the outbox is empty once both sides confirmed
    interrupted = sum(r["reason"].startswith("interrupted") for r in status["runs"])
    print(f"{interrupted} steps interrupted by {kills} kills")
    assert interrupted >= kills // 3, "the kills land mid-sync, and a killed run shows as interrupted"

"""Plugins' commands (the ``register_commands`` hook) and what ``hub`` loads to start.

Real ``hub`` processes; the echo plugin (tests/plugins/site) is a stranger's plugin installed
through its entry point, so what it does here any third-party plugin can do.
"""

from __future__ import annotations

import os
import subprocess
import sys

from test_cli import ECHO_SITE, assert_one_line_error, run_hub


def _env(tmp_path) -> dict[str, str]:
    return {"PYTHONPATH": str(ECHO_SITE), "DATABASE_URL": f"sqlite:///{tmp_path}/c.db"}


def test_hook_register_commands_adds_a_command_that_runs_on_the_configured_database(tmp_path):
    env = _env(tmp_path)
    listed = run_hub("plugins", cwd=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr
    assert "hub echo find  the issue an echo record made" in listed.stdout
    assert "hub sentry backfill" in listed.stdout  # a built-in plugin's command, listed the same way

    group_help = run_hub("echo", "--help", cwd=tmp_path, env=env)
    assert group_help.returncode == 0 and "find" in group_help.stdout, group_help.stderr
    options = run_hub("echo", "find", "--help", cwd=tmp_path, env=env)
    assert "--fail" in options.stdout and "--config" in options.stdout, options.stdout

    body = b'{"id": "c1", "title": "counted", "action": "open"}'
    (tmp_path / "echo.json").write_bytes(body)
    replayed = run_hub("replay", str(tmp_path / "echo.json"), "--source", "echo", "--no-jobs", cwd=tmp_path, env=env)
    assert replayed.returncode == 0, replayed.stderr
    found = run_hub("echo", "find", "c1", cwd=tmp_path, env=env)
    assert found.returncode == 0 and found.stdout.strip().startswith("echo c1: CHIPP-"), found.stderr
    missing = run_hub("echo", "find", "nope", cwd=tmp_path, env=env)
    assert (missing.returncode, missing.stdout.strip()) == (3, "echo nope: not tracked"), missing.stderr


def test_a_command_error_is_one_line_and_an_unknown_group_names_the_known_ones(tmp_path):
    env = _env(tmp_path)
    assert_one_line_error(run_hub("echo", "find", "x", "--fail", cwd=tmp_path, env=env), "echo find was told to fail")
    unknown = run_hub("nosuch", cwd=tmp_path, env=env)
    assert unknown.returncode == 2 and "invalid choice: 'nosuch'" in unknown.stderr
    assert "'echo'" in unknown.stderr and "'sentry'" in unknown.stderr and "'serve'" in unknown.stderr


def test_a_disabled_plugins_command_says_so(tmp_path):
    (tmp_path / "config.toml").write_text('[plugins]\ndisabled = ["echo"]\n')
    result = run_hub("echo", "find", "x", "--config", str(tmp_path / "config.toml"), cwd=tmp_path, env=_env(tmp_path))
    assert_one_line_error(result, "it may come from a plugin this configuration disables ([plugins] disabled: echo)")


def _broken_plugin(site) -> str:
    """An installed plugin whose module raises when imported; its site folder for PYTHONPATH."""
    (site / "hub_test_broken").mkdir(parents=True)
    (site / "hub_test_broken" / "__init__.py").write_text('raise RuntimeError("broken on import")\n')
    info = site / "hub_test_broken-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hub-test-broken\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[hub]\nbroken = hub_test_broken\n")
    return str(site)


def test_a_plugin_that_fails_to_import_is_one_line_and_disabling_it_is_the_way_out(tmp_path):
    env = _env(tmp_path)
    env["PYTHONPATH"] = os.pathsep.join([env["PYTHONPATH"], _broken_plugin(tmp_path / "site")])
    for argv in (["plugins"], ["echo", "find", "x"]):
        assert_one_line_error(run_hub(*argv, cwd=tmp_path, env=env),
                              "plugin 'broken' failed to load (RuntimeError: broken on import); fix or uninstall it, "
                              'or disable it in the config: [plugins] disabled = ["broken"]')
    (tmp_path / "config.toml").write_text('[plugins]\ndisabled = ["broken"]\n')
    listed = run_hub("plugins", cwd=tmp_path, env=env)
    assert listed.returncode == 0 and "hub echo find" in listed.stdout, listed.stderr
    # A plugin command too: its parser loads only the plugins the config enables.
    found = run_hub("echo", "find", "x", cwd=tmp_path, env=env)
    assert (found.returncode, found.stdout.strip()) == (3, "echo x: not tracked"), found.stderr


def test_help_and_built_in_commands_load_no_plugin_and_no_web_stack():
    # What `hub --help` and `hub token --help` import decides how fast they start (docs/performance.md).
    probe = ("import sys, contextlib, io\n"
             "from hub.cli import main\n"
             "for argv in (['--help'], ['token', '--help'], ['serve', '--help']):\n"
             "    shown = io.StringIO()\n"
             "    with contextlib.redirect_stdout(shown):\n"
             "        try:\n"
             "            main(argv)\n"
             "        except SystemExit as exit:\n"
             "            assert exit.code in (0, None), (argv, exit.code)\n"
             "    assert shown.getvalue().startswith('usage: '), (argv, shown.getvalue()[:200])\n"
             "heavy = ('litestar', 'sqlalchemy', 'pydantic', 'pluggy', 'httpx', 'uvicorn', 'hub_sentry', 'asyncio')\n"
             "print(sorted(name for name in sys.modules if name.split('.')[0] in heavy))\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", result.stdout


def test_a_command_without_the_database_creates_none(tmp_path):
    # `hub sentry schema` only prints (Command(database=False)): run in an empty directory, the
    # default SQLite file must not appear.
    result = run_hub("sentry", "schema", cwd=tmp_path, env={})
    assert result.returncode == 0, result.stderr
    assert "issue-link" in result.stdout and list(tmp_path.iterdir()) == []

"""Stack-trace paths against repository paths: prefixes, roots, separators and case."""

from __future__ import annotations

import pytest

from hub_github.paths import matching_files, normalise, paths_match


@pytest.mark.parametrize(
    ("raw", "segments"),
    [
        ("webpack:///./src/components/App.tsx", ("src", "components", "app.tsx")),
        ("webpack://chipp-admin/./src/App.tsx", ("src", "app.tsx")),
        ("app:///main.js", ("main.js",)),
        ("~/src/index.js", ("src", "index.js")),
        ("./lib/user.ts", ("lib", "user.ts")),
        ("/home/runner/work/app/src/x.py", ("home", "runner", "work", "app", "src", "x.py")),
        ("https://example.com/static/js/x.js", ("static", "js", "x.js")),
        ("https://cdn.example.com:8443/static/js/x.js?v=3#L1", ("static", "js", "x.js")),
        ("C:\\build\\src\\X.cs", ("build", "src", "x.cs")),
        ("../../shared/util.ts", ("shared", "util.ts")),
        ("", ()),
    ],
)
def test_normalise_strips_prefixes_roots_and_case(raw, segments):
    assert normalise(raw) == segments


@pytest.mark.parametrize(
    ("stack_path", "repo_file"),
    [
        ("webpack:///./src/components/App.tsx", "apps/chipp-admin/src/components/App.tsx"),
        ("webpack://./src/components/App.tsx", "src/components/App.tsx"),
        ("app:///lib/userHandler.js", "apps/chipp-admin/lib/userHandler.js"),
        ("/home/runner/work/app/app/src/x.py", "src/x.py"),
        ("/home/runner/work/app/app/src/x.py", "app/src/x.py"),
        ("https://example.com/static/js/main.js", "public/static/js/main.js"),
        ("C:\\build\\src\\Services\\Order.cs", "src/Services/Order.cs"),
        ("SRC/Components/APP.TSX", "src/components/App.tsx"),
        ("App.tsx", "App.tsx"),
        ("/srv/app/manage.py", "manage.py"),
        ("app:///main.js", "main.js"),
    ],
)
def test_paths_that_are_the_same_file_match(stack_path, repo_file):
    assert paths_match(stack_path, repo_file)


@pytest.mark.parametrize(
    ("stack_path", "repo_file"),
    [
        ("App.tsx", "src/App.tsx"),  # a bare name says nothing about a nested file
        ("app:///main.js", "src/main.js"),
        ("webpack:///./src/components/App.tsx", "src/pages/App.tsx"),
        ("webpack:///./src/components/App.tsx", "apps/other/src/components/App.ts"),
        ("/build/lib/a/b.py", "lib/c/b.py"),
        ("https://example.com/", "index.html"),
        ("", "README.md"),
    ],
)
def test_paths_of_different_files_do_not_match(stack_path, repo_file):
    assert not paths_match(stack_path, repo_file)


def test_matching_files_follow_the_stack_order_once_each():
    files = ["README.md", "apps/admin/lib/db.ts", "apps/admin/src/App.tsx", "apps/web/src/App.tsx"]
    stack = ["webpack:///./src/App.tsx", "app:///lib/db.ts", "webpack:///./src/App.tsx", "App.tsx"]
    assert matching_files(stack, files) == ["apps/admin/src/App.tsx", "apps/web/src/App.tsx",
                                            "apps/admin/lib/db.ts"]


def test_matching_files_without_a_stack_is_empty():
    assert matching_files([], ["src/App.tsx"]) == []

"""`hil init DIR`: scaffold a firmware project tested by nodemcu-hil.

Writes pytest.ini (with the seam settings hil_firmware_dir and hil_device_config),
conftest.py, a fixtures/ layer with the config builder, firmware/ (boot.py, main.py that
joins Wi-Fi and publishes `online` over umqtt.simple2, manifest.toml), one boot test,
boards.toml.example and a GitHub Actions workflow for virtual boards. The templates are
package data (nodemcu_hil/templates/project). A non-empty DIR is refused unless --force,
which overwrites the scaffold's files and leaves every other file alone.
"""

from __future__ import annotations

from pathlib import Path

TEMPLATE_PACKAGE = "nodemcu_hil"
TEMPLATE_DIR = ("templates", "project")
SUFFIX = ".tmpl"
RENAMED = {"github": ".github", "gitignore": ".gitignore"}  # package data globs skip dot files
VERSION_MARK = "@HIL_VERSION@"
SKIPPED = ("__pycache__",)


def configure(parser) -> None:
    parser.add_argument("directory", type=Path, metavar="DIR", help="where to create the project (created if missing)")
    parser.add_argument("--force", action="store_true",
                        help="write into a non-empty DIR, overwriting the scaffold's files (others are kept)")


def installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nodemcu-hil")
    except PackageNotFoundError:
        return "0.1.0"


def template_files() -> dict[str, bytes]:
    """The scaffold: project-relative path -> contents (before the version is filled in)."""
    from importlib.resources import files

    root = files(TEMPLATE_PACKAGE).joinpath(*TEMPLATE_DIR)
    found: dict[str, bytes] = {}

    def walk(node, parts: tuple[str, ...]) -> None:
        for child in node.iterdir():
            if child.name in SKIPPED:
                continue
            if child.is_dir():
                walk(child, (*parts, RENAMED.get(child.name, child.name)))
            elif child.name.endswith(SUFFIX):
                name = child.name.removesuffix(SUFFIX)
                found["/".join((*parts, RENAMED.get(name, name)))] = child.read_bytes()

    walk(root, ())
    if not found:
        from nodemcu_hil.errors import HilError

        raise HilError(f"no project templates in {root}: the nodemcu-hil installation is incomplete",
                       hint="reinstall nodemcu-hil")
    return dict(sorted(found.items()))


def scaffold(directory: Path, *, force: bool = False, version: str | None = None) -> list[Path]:
    """Write the project into `directory`; returns the files written."""
    from nodemcu_hil.errors import HilError

    if directory.exists() and not directory.is_dir():
        raise HilError(f"{directory} exists and is not a directory")
    if directory.is_dir() and any(directory.iterdir()) and not force:
        raise HilError(f"{directory} is not empty: nothing written",
                       hint="choose a new or empty directory, or add --force to overwrite the scaffold's files")
    version = version or installed_version()
    written = []
    for relative, content in template_files().items():
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.replace(VERSION_MARK.encode(), version.encode()))
        written.append(target)
    return written


def run(args) -> int:
    written = scaffold(args.directory, force=args.force)
    for path in written:
        print(f"  {path}")
    print(f"hil init: {len(written)} files written in {args.directory}; next:\n"
          f"  cd {args.directory} && python -m pytest     # on a virtual NodeMCU (needs nodemcu-hil[sim])\n"
          f"  cp boards.toml.example boards.toml            # then list your real boards")
    return 0

from setuptools import find_packages, setup

setup(
    name="gdb-memleak",
    version="0.1.0",
    description="gdb commands for hunting memory leaks in live CPython processes",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["gdb_memleak", "gdb_memleak.*"]),
    package_data={
        "gdb_memleak.payloads": ["*.py"],
        "gdb_memleak.inject": ["keeper.sh"],
        "gdb_memleak.model.schemas": ["*.schema.json"],
        "gdb_memleak.render": ["templates/*"],
        "gdb_memleak.host": ["layouts/*.json"],
    },
    python_requires=">=3.9",
    install_requires=["pyrasite-ng", "guppy3", "objgraph", "graphviz", "jinja2"],
    extras_require={"test": ["pytest", "jsonschema", "ruff", "mypy", "types-gdb", "numpy", "gunicorn", "gevent", "uvicorn"]},
    entry_points={"console_scripts": ["gdb-memleak = gdb_memleak.cli:main"]},
)

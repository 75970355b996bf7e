#!/usr/bin/env bash
# `make rust-analyzer`: rust-project.json for the module, from the kernel's own
# generator. That generator only recognises a crate root whose directory holds
# the Kbuild naming it, and ours is rust/sysmsg_main.rs with Kbuild at the top,
# so the module's crate is added the way the generator adds in-tree drivers:
# depending on core, kernel, pin_init, zerocopy(_derive), with the kernel's cfgs.
. "$(dirname "$0")/lib.sh"

"$SYSMSG_TOP/scripts/build-module.sh" rust-analyzer
python3 - "$SYSMSG_TOP/rust-project.json" "$SYSMSG_TOP/rust/sysmsg_main.rs" <<'PY'
import json, sys
path, root = sys.argv[1], sys.argv[2]
with open(path) as f:
    project = json.load(f)
crates = project["crates"]
index = {c["display_name"]: i for i, c in enumerate(crates)}
if not any(c["root_module"] == root for c in crates):
    kernel = crates[index["kernel"]]
    deps = ["core", "kernel", "pin_init", "zerocopy", "zerocopy_derive"]
    crates.append({
        "display_name": "sysmsg_main",
        "root_module": root,
        "is_workspace_member": True,
        "deps": [{"crate": index[d], "name": d} for d in deps if d in index],
        "cfg": kernel["cfg"],
        "edition": kernel["edition"],
        "env": kernel["env"],
    })
    with open(path, "w") as f:
        json.dump(project, f, sort_keys=True, indent=4)
PY
log "wrote rust-project.json"

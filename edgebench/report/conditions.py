"""The conditions a cell was measured under, and which of them two cells share: a baseline comparison judges
only cells measured alike, and says which library versions changed between them."""
from __future__ import annotations

from typing import Any


def crops_key(accuracy: dict[str, Any]) -> Any:
    """The key of the exact pixels evaluated (image list and preprocessing)."""
    return accuracy.get("crops_key", (accuracy.get("eval_set") or {}).get("crops_key"))


def _shown(value: Any) -> str:
    if value is None or value == {}:
        return "not recorded"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in sorted(value.items()))
    return str(value)


def _change(what: str, base: Any, cur: Any) -> str:
    return f"{what} {_shown(base)} → {_shown(cur)}"


def _timing(record: dict[str, Any]) -> dict[str, Any]:
    timing = record.get("timing") or {}
    return {k: timing.get(k) for k in ("profile", "min_iters", "min_s")}


def _recipe(record: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    quantization = record.get("quantization") or {}
    return quantization.get("recipe"), quantization.get("settings") or {}


def _eval_images(record: dict[str, Any]) -> tuple[Any, Any]:
    accuracy = record.get("accuracy") or {}
    return (accuracy.get("eval_set") or {}).get("eval_id"), crops_key(accuracy)


def differences(cur: dict[str, Any], base: dict[str, Any]) -> list[str]:
    """The measuring conditions that differ, baseline → current, in words; empty when the pair is comparable.
    A condition recorded on one side only counts as a difference: nothing says it was the same."""
    out: list[str] = []
    t_cur, t_base = _timing(cur), _timing(base)
    if t_cur["profile"] != t_base["profile"]:
        out.append(_change("timing profile", t_base["profile"], t_cur["profile"]))
    for name in ("min_iters", "min_s"):
        if t_cur["profile"] == t_base["profile"] and t_cur[name] != t_base[name]:
            out.append(_change(f"timing {name}", t_base[name], t_cur[name]))
    for name, what in (("threads", "threads"), ("batch_size", "batch size")):
        if cur.get(name) != base.get(name):
            out.append(_change(what, base.get(name), cur.get(name)))
    (r_cur, s_cur), (r_base, s_base) = _recipe(cur), _recipe(base)
    if r_cur != r_base:
        out.append(_change("recipe", r_base, r_cur))
    elif s_cur != s_base:
        changed = sorted(k for k in {*s_cur, *s_base} if s_cur.get(k) != s_base.get(k))
        out.append("recipe settings " + ", ".join(f"{k} {_shown(s_base.get(k))} → {_shown(s_cur.get(k))}"
                                                   for k in changed))
    if cur.get("accuracy") and base.get("accuracy"):
        (id_cur, crops_cur), (id_base, crops_base) = _eval_images(cur), _eval_images(base)
        if id_cur != id_base:
            out.append(_change("evaluation images", id_base, id_cur))
        elif crops_cur != crops_base:
            out.append(_change("evaluation crops (preprocessing)", crops_base, crops_cur))
    return out


def stated_differences(cur: dict[str, Any], base: dict[str, Any]) -> list[str]:
    """Library versions that changed (the runtime's own first): compared anyway, but said. Environment
    packages count only where both sides list them; the runtime's own version also when one side lacks it."""
    out: list[str] = []
    runtime = cur.get("runtime") or ""
    if cur.get("runtime_version") != base.get("runtime_version"):
        out.append(f"{runtime} {_shown(base.get('runtime_version'))} → {_shown(cur.get('runtime_version'))}")
    v_cur = (cur.get("environment") or {}).get("versions") or {}
    v_base = (base.get("environment") or {}).get("versions") or {}
    for name in sorted(set(v_cur) & set(v_base)):  # a package newly listed is not a change of version
        if v_cur[name] != v_base[name]:
            line = f"{name} {_shown(v_base.get(name))} → {_shown(v_cur.get(name))}"
            if line not in out:
                out.append(line)
    return out

"""Plain-language verdicts in English and Chinese.

"treatment raises conversion (pay) by 9.8% ± 3.1% (p = 0.0004), 99.6% chance
to beat control; guardrail refund rate unchanged." The ± is the half-width of
the relative interval; significance uses the corrected p-value when there is
one. An SRM alarm comes first, because it makes every other number suspect.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from jingyun.experiments.results import MetricResult, Recommendation, Verdict
from jingyun.experiments.srm import SrmResult
from jingyun.experiments.stats import EffectResult


def _p(r: EffectResult) -> float:
    return r.p_value_adjusted if r.p_value_adjusted is not None else r.p_value


def _half(r: EffectResult) -> float:
    lo, hi = r.ci_rel
    return (hi - lo) / 2


def _pct(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x * 100:.1f}%"


def effect_sentence(r: EffectResult, label_en: str, label_zh: str, alpha: float) -> tuple[str, str, int]:
    """One treatment on one metric: (en, zh, sign) with sign 0 when not significant."""
    chance = "" if r.chance_to_win is None else f", {r.chance_to_win * 100:.1f}% chance to beat control"
    chance_zh = "" if r.chance_to_win is None else f",优于对照的概率 {r.chance_to_win * 100:.1f}%"
    p = _p(r)
    if r.message and math.isnan(r.se_abs):
        return f"{r.variation}: {label_en} cannot be compared yet ({r.message})", f"{r.variation}:{label_zh} 暂无法比较({r.message})", 0
    if p < alpha and r.uplift_abs != 0:
        up = r.uplift_abs > 0
        en = f"{r.variation} {'raises' if up else 'lowers'} {label_en} by {_pct(abs(r.uplift_rel))} ± {_pct(_half(r))} (p = {p:.2g}){chance}"
        zh = f"{r.variation} 使{label_zh}{'提升' if up else '降低'} {_pct(abs(r.uplift_rel))} ± {_pct(_half(r))}(p = {p:.2g}){chance_zh}"
        return en, zh, 1 if up else -1
    sign = "+" if r.uplift_rel >= 0 else ""
    en = f"{r.variation}: no significant change in {label_en} ({sign}{_pct(r.uplift_rel)} ± {_pct(_half(r))}, p = {p:.2g}){chance}"
    zh = f"{r.variation}:{label_zh}无显著变化({sign}{_pct(r.uplift_rel)} ± {_pct(_half(r))},p = {p:.2g}){chance_zh}"
    return en, zh, 0


def verdict_text(metrics: Sequence[MetricResult], srm: SrmResult, alpha: float) -> Verdict:
    en_parts: list[str] = []
    zh_parts: list[str] = []
    if srm.alarm:
        en_parts.append(
            f"Sample ratio mismatch (p = {srm.p_value:.2g}): assignment counts do not match the weights; fix assignment before trusting results"
        )
        zh_parts.append(f"样本比例失衡(SRM,p = {srm.p_value:.2g}):分组人数与配置比例不符,请先排查分流再看结果")
    recommendation: Recommendation = "fix_srm" if srm.alarm else "keep_running"
    primary = [m for m in metrics if m.role == "primary"]
    guard = [m for m in metrics if m.role == "guardrail"]
    for m in primary:
        for r in m.variations:
            en, zh, sign = effect_sentence(r, m.label_en, m.label_zh, alpha)
            en_parts.append(en)
            zh_parts.append(zh)
            if not srm.alarm:
                if sign > 0 and recommendation != "rollback":
                    recommendation = "ship"
                elif sign < 0:
                    recommendation = "rollback"
    guard_bad = False
    no_data: list[MetricResult] = []
    for m in guard:
        if any(r.message and math.isnan(r.se_abs) for r in m.variations) or not m.variations:
            no_data.append(m)
            continue
        for r in m.variations:
            if _p(r) < alpha and r.uplift_abs != 0:
                guard_bad = True
                en_parts.append(f"guardrail {m.label_en} moved for {r.variation} ({_pct(r.uplift_rel)} ± {_pct(_half(r))})")
                zh_parts.append(f"护栏指标{m.label_zh}在 {r.variation} 中有显著变化({_pct(r.uplift_rel)} ± {_pct(_half(r))})")
    quiet = [m for m in guard if m not in no_data]
    if quiet and not guard_bad:
        en_parts.append("guardrail " + ", ".join(m.label_en for m in quiet) + " unchanged")
        zh_parts.append("护栏指标" + "、".join(m.label_zh for m in quiet) + "无显著变化")
    if no_data:
        en_parts.append("guardrail " + ", ".join(m.label_en for m in no_data) + " has no data yet")
        zh_parts.append("护栏指标" + "、".join(m.label_zh for m in no_data) + "暂无数据")
    if guard_bad and recommendation == "ship":
        # a winning primary metric does not outweigh a broken guardrail: a person decides
        recommendation = "keep_running"
    return Verdict("; ".join(en_parts) + ".", ";".join(zh_parts) + "。", recommendation)

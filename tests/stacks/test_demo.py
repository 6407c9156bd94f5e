"""dtrain.demo's summary of a synthesized cloud assembly (the table `make demo` prints)."""

from __future__ import annotations

from dtrain.demo import render_table, summarize_assembly
from stacks.synthesis import SynthesizedApp


def test_summary_counts_every_resource_by_type(synthesized_app: SynthesizedApp) -> None:
    summaries = {s.name: s for s in summarize_assembly(synthesized_app.outdir)}
    assert {"DtrainNetwork", "DtrainStorage", "DtrainTraining"} <= set(summaries)
    for name, summary in summaries.items():
        template = synthesized_app.template_dicts[name.removeprefix("Dtrain").lower()]
        assert summary.resource_count == len(template["Resources"])
    network = summaries["DtrainNetwork"].resource_types
    assert network["AWS::EC2::VPCEndpoint"] == 8
    assert summaries["DtrainStorage"].resource_types["AWS::FSx::FileSystem"] == 1
    assert summaries["DtrainTraining"].image_assets == ("ddp/Dockerfile", "horovod/Dockerfile")


def test_table_lists_each_stack_and_the_totals(synthesized_app: SynthesizedApp) -> None:
    summaries = summarize_assembly(synthesized_app.outdir)
    table = render_table(summaries)
    assert "DtrainStorage  (" in table
    assert "AWS::FSx::DataRepositoryAssociation" in table
    total = sum(s.resource_count for s in summaries)
    assert table.splitlines()[-1] == f"{len(summaries)} stacks, {total} resources"

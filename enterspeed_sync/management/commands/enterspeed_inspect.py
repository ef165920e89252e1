import json

from django.core.management.base import BaseCommand, CommandError

from enterspeed_sync.diagnostics.inspection import (
    DEFAULT_SELF_TEST_LIMIT,
    SelfTest,
    inspect_origin_id,
    run_self_test,
)
from enterspeed_sync.management.output import plural


class Command(BaseCommand):
    help = (
        "Print the exact entity JSON that would be sent for a page, image, document or "
        "snippet, without sending it. Ids as Enterspeed sees them: page-3, image-7, "
        "document-2, blog.author-5. With --all-models, map a sample of every synced model "
        "instead and print one line per model: run it before a first seed."
    )

    def add_arguments(self, parser):
        parser.add_argument("origin_ids", nargs="*", metavar="ORIGIN_ID")
        parser.add_argument(
            "--all-models",
            action="store_true",
            help=(
                "Map up to --limit live objects of every synced model (every page type, "
                "images, documents, every synced snippet model) without sending, validate "
                "them against the ingest contract, and print one line per model. Exits "
                "non-zero when any object cannot be sent."
            ),
        )
        parser.add_argument(
            "--limit",
            type=int,
            default=DEFAULT_SELF_TEST_LIMIT,
            help=f"Objects tried per model with --all-models (default {DEFAULT_SELF_TEST_LIMIT}).",
        )

    def handle(self, *args, origin_ids, all_models, limit, **options):
        if all_models == bool(origin_ids):
            raise CommandError("Give origin ids to inspect, or --all-models, not both.")
        if all_models:
            if limit < 1:
                raise CommandError("--limit must be at least 1.")
            self.self_test(limit)
            return
        failed = False
        for origin_id in origin_ids:
            try:
                inspection = inspect_origin_id(origin_id)
            except LookupError as e:
                raise CommandError(str(e)) from e
            if inspection.action == "save":
                self.stdout.write(json.dumps(inspection.entity, indent=2, ensure_ascii=False))
                for path, problem in inspection.problems.items():
                    failed = True
                    self.stderr.write(f"{origin_id}: {path or 'entity'}: {problem}")
            elif inspection.action == "delete":
                self.stderr.write(f"{origin_id} would be deleted: {inspection.reason}")
            else:
                failed = True
                self.stderr.write(f"{origin_id}: {inspection.reason}")
        if failed:
            raise CommandError("Some entities cannot be sent as they are; see above.")

    def self_test(self, limit: int) -> None:
        result = run_self_test(limit)
        self.stdout.write(format_self_test(result))
        if result.problems:
            raise CommandError(
                f"{plural(result.problems, 'object')} of {result.tried} cannot be sent as "
                "they are; the first error of each model is shown above. "
                "`manage.py enterspeed_inspect ORIGIN_ID` shows one in full."
            )


def format_self_test(result: SelfTest) -> str:
    """The self-test as a fixed-width table, one line per model, then a summary."""
    header = ("Model", "Kind", "Tried", "OK", "Skipped", "Problems", "First problem")
    rows = [
        (
            report.label,
            report.kind,
            str(report.tried),
            str(report.ok),
            str(report.skipped),
            str(report.problems),
            report.first_problem,
        )
        for report in result.reports
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    lines = []
    for row in [header, *rows]:
        cells = [
            cell.ljust(width) if i < 2 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=False))
        ]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    lines.append("")
    ok = sum(report.ok for report in result.reports)
    skipped = sum(report.skipped for report in result.reports)
    lines.append(
        f"{plural(len(result.reports), 'model')} tried: {plural(result.tried, 'object')}, "
        f"{ok} ok, {skipped} skipped (would be deleted, see inspect), "
        f"{plural(result.problems, 'problem')}."
    )
    if result.untried:
        lines.append(
            f"No live objects to try for {plural(len(result.untried), 'model')}: "
            + ", ".join(result.untried)
            + "."
        )
    return "\n".join(lines)

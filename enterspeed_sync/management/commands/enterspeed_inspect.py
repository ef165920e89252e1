import json

from django.core.management.base import BaseCommand, CommandError

from enterspeed_sync.inspection import inspect_origin_id


class Command(BaseCommand):
    help = (
        "Print the exact entity JSON that would be sent for a page, image, document or "
        "snippet, without sending it. Ids as Enterspeed sees them: page-3, image-7, "
        "document-2, blog.author-5."
    )

    def add_arguments(self, parser):
        parser.add_argument("origin_ids", nargs="+", metavar="ORIGIN_ID")

    def handle(self, *args, origin_ids, **options):
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

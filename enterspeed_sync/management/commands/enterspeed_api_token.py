from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from enterspeed_sync.api.tokens import TOKEN_PREFIX, create_token, revoke_token
from enterspeed_sync.models import APIToken


class Command(BaseCommand):
    help = (
        "Create, list and revoke tokens for the Enterspeed operations API. A token acts as "
        "its user, with that user's permissions."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="Create a token; it is printed once.")
        create.add_argument("--user", required=True, help="The username the token acts as.")
        create.add_argument("--name", default="", help="What the token is for, e.g. 'uptime'.")
        create.add_argument(
            "--expires-in-days", type=int, default=None, help="Expire after this many days."
        )
        listing = actions.add_parser("list", help="List tokens (never the tokens themselves).")
        listing.add_argument("--user", help="Only this user's tokens.")
        listing.add_argument(
            "--all", action="store_true", help="Include revoked and expired tokens."
        )
        revoke = actions.add_parser("revoke", help="Revoke tokens by prefix.")
        revoke.add_argument("prefixes", nargs="+", metavar="PREFIX")

    def handle(self, *args, action, **options):
        getattr(self, f"handle_{action}")(**options)

    def handle_create(self, *, user, name, expires_in_days, **options):
        User = get_user_model()
        try:
            owner = User._default_manager.get_by_natural_key(user)
        except User.DoesNotExist:
            raise CommandError(f"There is no user {user!r}.") from None
        if not owner.is_active:
            raise CommandError(f"User {user!r} is inactive; its tokens would not work.")
        expires_at = None
        if expires_in_days is not None:
            if expires_in_days < 1:
                raise CommandError("--expires-in-days must be at least 1.")
            expires_at = timezone.now() + timedelta(days=expires_in_days)
        token, raw = create_token(owner, name=name, expires_at=expires_at)
        self.stderr.write(
            f"Created token {token.prefix} for {user}"
            + (f", expiring {expires_at:%Y-%m-%d %H:%M %Z}" if expires_at else "")
            + ". Store it now: it is not shown again."
        )
        self.stdout.write(raw)

    def handle_list(self, *, user=None, all=False, **options):
        tokens = APIToken.objects.select_related("user").order_by("created_at", "pk")
        if not all:
            tokens = tokens.active()
        if user:
            tokens = tokens.filter(**{f"user__{get_user_model().USERNAME_FIELD}": user})
        now = timezone.now()
        rows = [("PREFIX", "USER", "NAME", "CREATED", "LAST USED", "STATUS")]
        for token in tokens:
            if token.revoked_at:
                status = f"revoked {token.revoked_at:%Y-%m-%d}"
            elif token.expires_at and token.expires_at <= now:
                status = f"expired {token.expires_at:%Y-%m-%d}"
            elif token.expires_at:
                status = f"active until {token.expires_at:%Y-%m-%d}"
            else:
                status = "active"
            rows.append(
                (
                    token.prefix,
                    token.user.get_username(),
                    token.name or "-",
                    f"{token.created_at:%Y-%m-%d %H:%M}",
                    f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never",
                    status,
                )
            )
        if len(rows) == 1:
            self.stdout.write("No tokens.")
            return
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            self.stdout.write("  ".join(cells).rstrip())

    def handle_revoke(self, *, prefixes, **options):
        missing = []
        for prefix in prefixes:
            # The prefix as listed, "esync_<prefix>", or the whole token.
            token = APIToken.objects.filter(
                prefix=prefix.removeprefix(TOKEN_PREFIX).split("_", 1)[0]
            ).first()
            if token is None:
                missing.append(prefix)
            elif revoke_token(token):
                self.stdout.write(f"Revoked {token.prefix}.")
            else:
                self.stdout.write(f"{token.prefix} was already revoked.")
        if missing:
            raise CommandError(f"No token with prefix {', '.join(missing)}.")

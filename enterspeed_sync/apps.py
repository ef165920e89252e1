from django.apps import AppConfig, apps
from django.core.exceptions import ImproperlyConfigured
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class EnterspeedSyncConfig(AppConfig):
    name = "enterspeed_sync"
    label = "enterspeed_sync"
    verbose_name = _("Enterspeed sync")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        if not apps.is_installed("django_q"):
            # Not a check that could be silenced: nothing is sent without django-q2, and
            # the modules below use its models.
            raise ImproperlyConfigured(
                "enterspeed_sync needs django-q2: add 'django_q' to INSTALLED_APPS and "
                "configure Q_CLUSTER (see docs/installation.md)."
            )
        # Imported here, not at the top: apps.py loads before the app registry is ready,
        # and these modules import models.
        from enterspeed_sync import checks  # noqa: F401  (registers the system checks)
        from enterspeed_sync.capture.receivers import register_signal_handlers
        from enterspeed_sync.capture.redirects import register_redirect_signal_handlers

        # Redirects first: Wagtail's redirect receivers must run before ours (see there).
        register_redirect_signal_handlers()
        register_signal_handlers()
        post_migrate.connect(create_schedules, sender=self)
        # Imported here for the same reason: django_q.signals loads django-q2's settings.
        from django_q.signals import post_spawn

        from enterspeed_sync.processing.schedules import on_worker_spawn

        post_spawn.connect(on_worker_spawn, dispatch_uid="enterspeed_sync.on_worker_spawn")


def create_schedules(*, using: str = "default", **kwargs) -> None:
    # Imported here: apps.py loads before the app registry is ready (schedules uses models).
    from enterspeed_sync.processing.schedules import ensure_schedules

    ensure_schedules(using=using)

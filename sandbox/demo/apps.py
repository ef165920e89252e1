from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "sandbox.demo"
    label = "demo"
    verbose_name = "Sandbox demo"
    default_auto_field = "django.db.models.BigAutoField"

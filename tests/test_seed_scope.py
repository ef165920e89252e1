"""A seed's scope: several page subtrees, images and documents by collection, snippets by
model; in ``seed()``, the admin form, the API's seed body and ``enterspeed_seed``."""

import json
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client, override_settings
from django.urls import reverse
from wagtail.documents import get_document_model
from wagtail.images import get_image_model
from wagtail.images.tests.utils import get_test_image_file
from wagtail.models import Collection

from enterspeed_sync.actions import run_seed
from enterspeed_sync.api.tokens import create_token
from enterspeed_sync.capture.seed_scope import SeedScope, SeedScopeError, validate_seed_scope
from enterspeed_sync.capture.seeding import seed
from enterspeed_sync.models import EnterspeedJob
from tests.testapp.models import BlogIndexPage, Category, FooterText

pytestmark = pytest.mark.django_db

NO_KICK = {
    "API_KEY": "source-0123456789abcdef",
    "PROCESS_ON_COMMIT": False,
    "SYNC_IMAGES": True,
    "SYNC_DOCUMENTS": True,
}


def queued():
    return set(EnterspeedJob.objects.values_list("origin_id", flat=True))


@pytest.fixture
def scope_site(site_tree):
    """Two sections under home (blog with three posts, news), and a collection each of
    images and documents outside the root collection; two snippet models with one object."""
    home = site_tree["home"]
    news = home.add_child(instance=BlogIndexPage(title="News", slug="news"))
    root = Collection.get_first_root_node()
    press = root.add_child(name="Press")
    images = [
        get_image_model().objects.create(
            title=f"Image {i}", file=get_test_image_file(), collection=collection
        )
        for i, collection in enumerate([root, press])
    ]
    documents = [
        get_document_model().objects.create(title=f"Doc {i}", collection=collection)
        for i, collection in enumerate([root, press])
    ]
    category = Category.objects.create(name="Sailing", slug="sailing")
    footer = FooterText.objects.create(body="<p>Footer</p>")
    EnterspeedJob.objects.all().delete()
    return {
        **site_tree,
        "news": news,
        "press": press,
        "images": images,
        "documents": documents,
        "category": category,
        "footer": footer,
    }


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_seed_takes_several_subtrees_collections_and_snippet_models(scope_site):
    blog, news = scope_site["blog"], scope_site["news"]
    posts = scope_site["posts"]
    seed(kinds=["pages"], root_pages=[blog, news])
    assert queued() == {f"page-{p.pk}" for p in [blog, news, *posts]}
    EnterspeedJob.objects.all().delete()
    seed(kinds=["pages"], root_pages=[blog, news], descendants=False)
    assert queued() == {f"page-{blog.pk}", f"page-{news.pk}"}
    EnterspeedJob.objects.all().delete()

    press = scope_site["press"]
    seed(kinds=["images", "documents"], collections=[press.pk])
    assert queued() == {
        f"image-{scope_site['images'][1].pk}",
        f"document-{scope_site['documents'][1].pk}",
    }
    EnterspeedJob.objects.all().delete()
    seed(kinds=["snippets"], snippet_models=["testapp.category"])
    assert queued() == {f"testapp.category-{scope_site['category'].pk}"}


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_run_seed_refuses_a_subtree_that_no_longer_exists(scope_site):
    with pytest.raises(LookupError, match="999999"):
        run_seed(SeedScope(kinds=["pages"], root_pages=[scope_site["blog"].pk, 999999]))


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_the_admin_seed_form_takes_sections_collections_and_snippet_models(
    client, django_user_model, scope_site, django_capture_on_commit_callbacks
):
    client.force_login(django_user_model.objects.create_superuser("admin", "a@example.com", "pw"))
    dashboard = client.get(reverse("enterspeed_sync:dashboard")).content.decode()
    for value in [scope_site["blog"].pk, scope_site["news"].pk, scope_site["press"].pk]:
        assert f'value="{value}"' in dashboard
    assert 'value="testapp.category"' in dashboard
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("enterspeed_sync:seed"),
            {
                "kinds": ["pages", "images", "snippets"],
                "sections": [scope_site["blog"].pk, scope_site["news"].pk],
                "descendants": "on",
                "collections": [scope_site["press"].pk],
                "snippet_models": ["testapp.category"],
            },
        )
    assert response.status_code == 302
    blog, news, posts = scope_site["blog"], scope_site["news"], scope_site["posts"]
    assert queued() == {
        *(f"page-{p.pk}" for p in [blog, news, *posts]),
        f"image-{scope_site['images'][1].pk}",
        f"testapp.category-{scope_site['category'].pk}",
    }


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_the_api_seed_body_takes_the_new_scope(
    django_user_model, scope_site, django_capture_on_commit_callbacks
):
    user = django_user_model.objects.create_superuser("root", "r@example.com", "pw")
    token = create_token(user, name="tests")[1]

    def post(body):
        return Client().post(
            reverse("enterspeed_sync_api:seeds"),
            json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )

    body = {
        "kinds": ["pages", "documents", "snippets"],
        "root_pages": [scope_site["news"].pk, scope_site["blog"].pk],
        "collections": [scope_site["press"].pk],
        "snippet_models": ["testapp.Category"],
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = post(body)
    assert response.status_code == 202, response.content
    scope = response.json()["scope"]
    assert scope["root_pages"] == sorted([scope_site["news"].pk, scope_site["blog"].pk])
    assert scope["snippet_models"] == ["testapp.category"]
    blog, news, posts = scope_site["blog"], scope_site["news"], scope_site["posts"]
    assert queued() == {
        *(f"page-{p.pk}" for p in [blog, news, *posts]),
        f"document-{scope_site['documents'][1].pk}",
        f"testapp.category-{scope_site['category'].pk}",
    }
    for bad in [{"root_pages": [999999]}, {"collections": [999999]}, {"snippet_models": ["x.y"]}]:
        assert post(bad).status_code == 400, bad


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_the_seed_command_takes_several_roots_collections_and_snippet_models(scope_site):
    blog, news = scope_site["blog"], scope_site["news"]
    call_command(
        "enterspeed_seed", "--root", str(blog.pk), "--root", str(news.pk), stdout=StringIO()
    )
    assert queued() == {f"page-{p.pk}" for p in [blog, news, *scope_site["posts"]]}
    EnterspeedJob.objects.all().delete()
    call_command(
        "enterspeed_seed",
        "--kind", "images",
        "--kind", "snippets",
        "--collection", str(scope_site["press"].pk),
        "--snippet-model", "testapp.category",
        stdout=StringIO(),
    )  # fmt: skip
    assert queued() == {
        f"image-{scope_site['images'][1].pk}",
        f"testapp.category-{scope_site['category'].pk}",
    }
    with pytest.raises(CommandError, match="Not a synced snippet model"):
        call_command("enterspeed_seed", "--snippet-model", "x.y", stdout=StringIO())
    with pytest.raises(CommandError, match="No collection"):
        call_command("enterspeed_seed", "--collection", "999999", stdout=StringIO())


# One rule for every entry point -----------------------------------------------------------


def test_validate_seed_scope_names_each_bad_field(scope_site):
    with pytest.raises(SeedScopeError) as caught:
        validate_seed_scope(
            SeedScope(
                root_pages=[scope_site["root"].pk, 999999],
                collections=[999999],
                snippet_models=["x.y"],
                locales=["xx"],
                destination="preview",
            )
        )
    assert set(caught.value.errors) == {
        "root_pages",
        "collections",
        "snippet_models",
        "locales",
        "destination",
    }
    with pytest.raises(SeedScopeError, match="is the root of the page tree") as caught:
        validate_seed_scope(SeedScope(root_page=scope_site["root"].pk))
    assert list(caught.value.errors) == ["root_page"]
    with pytest.raises(SeedScopeError, match="Leaving out descendants needs a root page"):
        validate_seed_scope(SeedScope(descendants=False))


def test_a_scope_without_kinds_seeds_the_kinds_it_narrows(scope_site):
    def kinds(**scope):
        return validate_seed_scope(SeedScope(**scope)).kinds

    assert kinds() == ["pages", "images", "documents", "snippets"]
    assert kinds(locales=["en"]) == ["pages", "images", "documents", "snippets"]
    assert kinds(root_page=scope_site["blog"].pk) == ["pages"]
    assert kinds(root_pages=[scope_site["blog"].pk]) == ["pages"]
    assert kinds(collections=[scope_site["press"].pk]) == ["images", "documents"]
    assert kinds(snippet_models=["testapp.Category"]) == ["snippets"]
    assert kinds(root_pages=[scope_site["blog"].pk], snippet_models=["testapp.category"]) == [
        "pages",
        "snippets",
    ]
    assert kinds(kinds=["images"], root_page=scope_site["blog"].pk) == ["images"]


def seed_through_form(client, scope):
    data = {"kinds": scope.get("kinds", ["pages"])}
    if "root" in scope:
        data["root_page"] = scope["root"]
    if scope.get("descendants", True):
        data["descendants"] = "on"
    for name in ["collections", "snippet_models", "locales"]:
        if name in scope:
            data[name] = scope[name]
    response = client.post(reverse("enterspeed_sync:seed"), data)
    assert response.status_code in (302, 400), response.status_code
    return response.status_code == 302


def seed_through_api(token, scope):
    body = {key: value for key, value in scope.items() if key != "root"}
    if "root" in scope:
        body["root_pages"] = [scope["root"]]
    response = Client().post(
        reverse("enterspeed_sync_api:seeds"),
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code in (202, 400), response.content
    return response.status_code == 202


def seed_through_command(scope):
    options = {"kinds": "--kind", "collections": "--collection", "locales": "--locale"}
    options["snippet_models"] = "--snippet-model"
    args = ["--root", str(scope["root"])] if "root" in scope else []
    if not scope.get("descendants", True):
        args.append("--no-descendants")
    for name, option in options.items():
        for value in scope.get(name, []):
            args += [option, str(value)]
    try:
        call_command("enterspeed_seed", *args, stdout=StringIO())
    except CommandError:
        return False
    return True


SCOPES = {
    # name: (scope, accepted); "root" stands for the page the fixture names.
    "the whole site": ({}, True),
    "a section": ({"root": "blog"}, True),
    "a section's page alone": ({"root": "blog", "descendants": False}, True),
    "a home page": ({"root": "home"}, True),
    "the page tree's root": ({"root": "root"}, False),
    "a page that does not exist": ({"root": 999999}, False),
    "a collection": ({"kinds": ["images"], "collections": ["press"]}, True),
    "a collection that does not exist": ({"collections": [999999]}, False),
    "a synced snippet model": ({"snippet_models": ["testapp.category"]}, True),
    "a model that is not a synced snippet": ({"snippet_models": ["testapp.blogpage"]}, False),
    "the site's locale": ({"locales": ["en"]}, True),
    "a locale the site lacks": ({"locales": ["xx"]}, False),
}


@override_settings(ENTERSPEED_SYNC=NO_KICK)
@pytest.mark.parametrize("name", SCOPES)
def test_the_form_the_api_and_the_command_refuse_and_accept_the_same_scopes(
    name, client, django_user_model, scope_site
):
    scope, accepted = SCOPES[name]
    scope = {
        key: scope_site[value].pk if key == "root" and isinstance(value, str) else value
        for key, value in scope.items()
    }
    if "collections" in scope:
        scope["collections"] = [
            scope_site[pk].pk if isinstance(pk, str) else pk for pk in scope["collections"]
        ]
    user = django_user_model.objects.create_superuser("admin", "a@example.com", "pw")
    client.force_login(user)
    token = create_token(user, name="tests")[1]
    verdicts = {
        "form": seed_through_form(client, scope),
        "api": seed_through_api(token, scope),
        "command": seed_through_command(scope),
    }
    assert verdicts == dict.fromkeys(verdicts, accepted)


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_leaving_out_descendants_without_a_root_page_is_refused(scope_site):
    # The API and the command refuse it; the form's box only means something with a page
    # chosen, so unticked without one it seeds as if ticked (tests/test_views.py).
    user = get_user_model().objects.create_superuser("admin", "a@example.com", "pw")
    assert not seed_through_api(create_token(user, name="tests")[1], {"descendants": False})
    with pytest.raises(CommandError, match="--no-descendants: Leaving out descendants"):
        call_command("enterspeed_seed", "--no-descendants", stdout=StringIO())


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_the_api_and_the_command_seed_the_same_kinds_by_default(
    django_user_model, scope_site, django_capture_on_commit_callbacks
):
    user = django_user_model.objects.create_superuser("admin", "a@example.com", "pw")
    token = create_token(user, name="tests")[1]
    blog, press = scope_site["blog"], scope_site["press"]
    for scope, expected in [
        ({"root": blog.pk}, {f"page-{p.pk}" for p in [blog, *scope_site["posts"]]}),
        (
            {"collections": [press.pk]},
            {f"image-{scope_site['images'][1].pk}", f"document-{scope_site['documents'][1].pk}"},
        ),
    ]:
        with django_capture_on_commit_callbacks(execute=True):
            assert seed_through_api(token, scope)
        via_api = queued()
        EnterspeedJob.objects.all().delete()
        assert seed_through_command(scope)
        assert queued() == via_api == expected
        EnterspeedJob.objects.all().delete()

"""
``api_fields`` and ``enterspeed_fields`` map as Wagtail's API v2 renders them: serializer fields
(bound with the request context), ``source``, methods, relations and child relations; a value
that cannot be converted fails its job with a message naming model, field and value type; a
bad entry is reported at startup (``enterspeed_sync.E013``).
"""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings
from rest_framework import serializers
from wagtail.api import APIField
from wagtail.images.api.fields import ImageRenditionField
from wagtail.images.models import Image
from wagtail.images.tests.utils import get_test_image_file

from enterspeed_sync.capture.fanout import queue_page_job
from enterspeed_sync.capture.outbox import pause_sync
from enterspeed_sync.checks import check_property_entries
from enterspeed_sync.exceptions import MappingError
from enterspeed_sync.mapping import (
    get_mapper,
    get_model_for_origin_id,
    get_object_for_origin_id,
    to_json_value,
)
from enterspeed_sync.models import EnterspeedJob, JobType
from enterspeed_sync.processing.runner import process_pending_jobs
from tests.testapp.models import ApiFieldsPage, ArticleNote, ArticlePage, Author, Category, Promo

pytestmark = pytest.mark.django_db


class AuthorSerializer(serializers.ModelSerializer):
    class Meta:
        model = Author
        fields = ["name", "live"]


@pytest.fixture
def image(db, tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return Image.objects.create(
        title="Harbour", file=get_test_image_file(filename="harbour.png", size=(640, 480))
    )


@pytest.fixture
def article(site_tree, image):
    author = Author.objects.create(name="Ada")
    with pause_sync():
        page = site_tree["home"].add_child(
            instance=ArticlePage(
                title="Sea",
                slug="sea",
                summary="Boats and more boats",
                image=image,
                author=author,
                notes=[ArticleNote(text="ahoy", internal="not sent")],
            )
        )
        page.save_revision().publish()
    return ArticlePage.objects.get(pk=page.pk)


def properties_of(obj):
    return get_mapper(obj).to_entity()["properties"]


def test_api_fields_render_as_wagtails_api_does(article, image):
    props = properties_of(article)
    rendition = image.get_rendition("fill-200x100")

    # ImageRenditionField("fill-200x100", source="image"): Wagtail's own representation.
    assert props["hero"] == {
        "url": rendition.url,
        "full_url": rendition.full_url,
        "width": 200,
        "height": 100,
        "alt": "Harbour",
    }
    assert props["heading"] == "Sea"  # CharField(source="title")
    assert props["author_name"] == "Ada"  # a dotted source
    assert props["overview"] == {"title": "Sea", "words": 4}  # source="*"
    assert props["teaser"] == "Boats and more boats"
    # A field reading the request from the context gets the mapper's (the site's host).
    assert props["canonical"] == "http://www.example.com/sea/"
    assert props["word_count"] == 4  # a method, called without arguments
    # Plain names keep our converters: references, not Wagtail's {"id", "meta"}.
    assert props["author"]["title"] == "Ada"
    assert props["author"]["id"].startswith("testapp.author-")
    # Child relations use the child model's api_fields (its serializer too).
    assert props["notes"] == [{"text": "ahoy", "loud": "AHOY"}]
    assert list(props) == [
        "title",
        "slug",
        "seo_title",
        "search_description",
        *[entry if isinstance(entry, str) else entry.name for entry in ArticlePage.api_fields],
        "meta",
    ]


def test_none_stays_none_and_skip_field_leaves_the_property_out(article):
    article.image = None
    article.summary = ""
    article.author = None
    props = properties_of(article)
    # Wagtail's BaseSerializer: None is None, to_representation is not called.
    assert props["hero"] is None
    assert props["author_name"] is None  # allow_null: DRF gives None for a missing author
    assert props["author"] is None
    assert "teaser" not in props  # the field raised SkipField


def test_snippet_api_fields_with_a_serializer(image):
    promo = Promo.objects.create(text="Sale", image=image)
    props = properties_of(promo)
    assert props["text"] == "Sale"
    assert props["thumbnail"]["width"] == 40
    assert props["thumbnail"]["height"] == 30
    assert props["thumbnail"]["url"] == image.get_rendition("max-40x40").url


def test_enterspeed_fields_may_hold_api_fields_and_names(article, monkeypatch):
    monkeypatch.setattr(
        ArticlePage,
        "enterspeed_fields",
        [APIField("headline", serializer=serializers.CharField(source="title")), "summary"],
        raising=False,
    )
    props = properties_of(article)
    assert props["headline"] == "Sea"
    assert props["summary"] == "Boats and more boats"
    assert "hero" not in props  # api_fields is not used when enterspeed_fields is set


def test_a_value_that_cannot_be_converted_names_model_field_and_type(article, monkeypatch):
    broken = ImageRenditionField("fill-10x10", source="summary")  # a string, not an image
    monkeypatch.setattr(ArticlePage, "api_fields", [APIField("hero", serializer=broken)])
    with pytest.raises(MappingError) as error:
        properties_of(article)
    message = str(error.value)
    assert message.startswith("Cannot convert testapp.ArticlePage.hero (a str value):")
    assert "AttributeError" in message


def test_an_object_without_a_text_form_fails_instead_of_sending_its_address(article, monkeypatch):
    monkeypatch.setattr(ArticlePage, "api_fields", ["secret"])
    monkeypatch.setattr(ArticlePage, "secret", object(), raising=False)
    with pytest.raises(MappingError, match=r"testapp\.ArticlePage\.secret \(a object value\)"):
        properties_of(article)


def test_the_job_fails_with_the_readable_reason(article, monkeypatch, standin):
    broken = ImageRenditionField("fill-10x10", source="summary")
    monkeypatch.setattr(ArticlePage, "api_fields", [APIField("hero", serializer=broken)])
    queue_page_job(article, JobType.PUBLISH)
    process_pending_jobs()
    job = EnterspeedJob.objects.get(origin_id=f"page-{article.pk}")
    assert job.state == "failed"
    # The first line of the reason says what is wrong (a traceback follows, for developers).
    assert job.error.startswith(
        "MappingError: Cannot convert testapp.ArticlePage.hero (a str value)"
    )
    assert f"page-{article.pk}" not in standin.entities


def test_sets_are_sent_in_a_stable_order():
    assert to_json_value({"b", "a", "c"}) == ["a", "b", "c"]
    assert to_json_value(frozenset({2, 1})) == [1, 2]


def test_origin_ids_keep_hyphens_in_primary_keys():
    model, pk = get_model_for_origin_id("testapp.category-2dbe9aa7-1f4a-428a")
    assert model is Category
    assert pk == "2dbe9aa7-1f4a-428a"


def test_an_origin_id_names_its_object_or_nothing(site_tree):
    blog = site_tree["blog"]
    assert get_object_for_origin_id(f"page-{blog.pk}").pk == blog.pk
    category = Category.objects.create(name="Sailing", slug="sailing")
    assert get_object_for_origin_id(f"testapp.category-{category.pk}") == category
    gone = ["page-999999", "page-abc", f"page-{2**70}", "nothing.here-1", "page", "page-"]
    for origin_id in gone:
        with pytest.raises(LookupError):
            get_object_for_origin_id(origin_id)


# The system check ---------------------------------------------------------------------------


def e013(errors):
    return [error for error in errors if error.id == "enterspeed_sync.E013"]


def test_no_error_for_the_test_apps_models():
    assert e013(check_property_entries()) == []


def test_check_names_the_model_and_the_bad_entries(monkeypatch):
    monkeypatch.setattr(
        ApiFieldsPage,
        "api_fields",
        [
            APIField("body"),
            APIField("summary"),  # a property: fine
            "hero",  # nothing of that name
            APIField("thumb", serializer=ImageRenditionField("fill-1x1", source="image")),
            APIField("everything", serializer=serializers.CharField(source="*")),
            APIField("method", serializer=serializers.SerializerMethodField()),
            APIField("body_again", serializer=serializers.CharField(source="body.upper")),
        ],
    )
    errors = e013(check_property_entries())
    assert [error.obj for error in errors] == [ApiFieldsPage] * 3
    messages = [error.msg for error in errors]
    assert messages[0] == (
        "testapp.ApiFieldsPage.api_fields entry 'hero': "
        "'hero' is no field, relation, property or method of ApiFieldsPage."
    )
    assert messages[1].startswith("testapp.ApiFieldsPage.api_fields entry 'thumb': has source=")
    assert "SerializerMethodField" in messages[2]
    assert "api_fields" in errors[0].hint


def test_check_covers_child_models_and_enterspeed_fields(monkeypatch):
    monkeypatch.setattr(ArticleNote, "api_fields", ["text", "nope"])
    monkeypatch.setattr(Promo, "enterspeed_fields", ["text", "nope"], raising=False)
    errors = e013(check_property_entries())
    assert sorted(error.msg.split(":")[0] for error in errors) == [
        "testapp.ArticleNote.api_fields entry 'nope'",
        "testapp.Promo.enterspeed_fields entry 'nope'",
    ]


def test_manage_py_check_reports_it(monkeypatch):
    monkeypatch.setattr(ApiFieldsPage, "api_fields", ["body", "hero"])
    with override_settings(
        ENTERSPEED_SYNC={"API_KEY": "source-tests", "BASE_URL": "https://api.enterspeed.com"}
    ):
        with pytest.raises(SystemCheckError, match=r"enterspeed_sync\.E013"):
            call_command("check")


def test_a_network_error_while_converting_stays_retryable(article, monkeypatch):
    # Not wrapped: the retry policy sees the ConnectionError and tries again later.
    def fetch(self):
        raise ConnectionError("CDN down")

    monkeypatch.setattr(ArticlePage, "remote", property(fetch), raising=False)
    monkeypatch.setattr(ArticlePage, "api_fields", ["remote"])
    with pytest.raises(ConnectionError):
        properties_of(article)


def test_related_fields_and_method_sources(article, monkeypatch):
    monkeypatch.setattr(
        ArticlePage,
        "api_fields",
        [
            APIField("author_label", serializer=serializers.StringRelatedField(source="author")),
            APIField(
                "author_pk",
                serializer=serializers.PrimaryKeyRelatedField(source="author", read_only=True),
            ),
            APIField("words", serializer=serializers.IntegerField(source="word_count")),
            APIField("writer", serializer=AuthorSerializer(source="author")),
            APIField(
                "note_texts",
                serializer=serializers.SlugRelatedField(
                    source="notes", slug_field="text", many=True, read_only=True
                ),
            ),
        ],
    )
    props = properties_of(article)
    assert props["author_label"] == "Ada"
    assert props["author_pk"] == article.author_id
    assert props["words"] == 4
    assert props["writer"] == {"name": "Ada", "live": True}  # a nested ModelSerializer
    assert props["note_texts"] == ["ahoy"]  # many=True over a child relation


def test_a_serializer_class_is_ignored_as_wagtails_api_ignores_it(article, monkeypatch):
    # DRF only declares Field instances; Wagtail's API then renders the name as usual.
    monkeypatch.setattr(
        ArticlePage, "api_fields", [APIField("author", serializer=AuthorSerializer)]
    )
    assert properties_of(article)["author"]["title"] == "Ada"
    assert e013(check_property_entries()) == []

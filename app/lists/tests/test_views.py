from html import escape

from django.test import TestCase

from lists.forms import DUPLICATE_ITEM_ERROR, EMPTY_ITEM_ERROR
from lists.models import Item, List


class HomePageTest(TestCase):
    def test_uses_home_template(self):
        response = self.client.get("/")
        self.assertTemplateUsed(response, "home.html")

    def test_home_page_title_heading_and_form(self):
        response = self.client.get("/")
        self.assertContains(response, "<title>To-Do lists</title>", html=True)
        self.assertContains(response, "Start a new To-Do list")
        self.assertContains(response, '<form method="POST" action="/lists/new">')
        self.assertContains(response, "csrfmiddlewaretoken")
        self.assertContains(response, 'name="item_text"')
        self.assertContains(response, 'id="id_new_item"')
        self.assertContains(response, 'placeholder="Enter a to-do item"')

    def test_links_bootstrap_css_from_static(self):
        response = self.client.get("/")
        self.assertContains(response, 'href="/static/bootstrap/css/bootstrap.min.css"')

    def test_home_page_has_no_items_table(self):
        response = self.client.get("/")
        self.assertNotContains(response, "id_list_table")


class NewListTest(TestCase):
    def test_can_save_a_post_request(self):
        self.client.post("/lists/new", data={"item_text": "A new list item"})
        self.assertEqual(Item.objects.count(), 1)
        new_item = Item.objects.get()
        self.assertEqual(new_item.text, "A new list item")

    def test_redirects_after_post(self):
        response = self.client.post("/lists/new", data={"item_text": "A new list item"})
        new_list = List.objects.get()
        self.assertRedirects(response, f"/lists/{new_list.id}/")

    def test_get_is_not_allowed(self):
        with self.assertLogs("django.request", "WARNING"):
            response = self.client.get("/lists/new")
        self.assertEqual(response.status_code, 405)
        self.assertEqual(List.objects.count(), 0)

    def test_empty_item_renders_home_page_with_error(self):
        response = self.client.post("/lists/new", data={"item_text": ""})
        self.assertEqual(response.status_code, 200)
        self.assertTemplateUsed(response, "home.html")
        self.assertContains(response, escape(EMPTY_ITEM_ERROR))
        self.assertContains(response, "is-invalid")

    def test_empty_item_saves_nothing(self):
        self.client.post("/lists/new", data={"item_text": ""})
        self.client.post("/lists/new", data={"item_text": "   "})
        self.assertEqual(List.objects.count(), 0)
        self.assertEqual(Item.objects.count(), 0)


class ListViewTest(TestCase):
    def test_uses_list_template(self):
        list_ = List.objects.create()
        response = self.client.get(f"/lists/{list_.id}/")
        self.assertTemplateUsed(response, "list.html")

    def test_renders_heading_and_form(self):
        list_ = List.objects.create()
        response = self.client.get(f"/lists/{list_.id}/")
        self.assertContains(response, "Your To-Do list")
        self.assertContains(
            response, f'<form method="POST" action="/lists/{list_.id}/add_item">'
        )
        self.assertContains(response, 'name="item_text"')
        self.assertContains(response, 'id="id_new_item"')
        self.assertContains(response, 'placeholder="Enter a to-do item"')
        self.assertContains(response, '<table id="id_list_table"')

    def test_displays_numbered_items_for_that_list_only(self):
        correct_list = List.objects.create()
        Item.objects.create(text="itemey 1", list=correct_list)
        Item.objects.create(text="itemey 2", list=correct_list)
        other_list = List.objects.create()
        Item.objects.create(text="other list item", list=other_list)

        response = self.client.get(f"/lists/{correct_list.id}/")

        self.assertContains(response, "<td>1: itemey 1</td>", html=True)
        self.assertContains(response, "<td>2: itemey 2</td>", html=True)
        self.assertNotContains(response, "other list item")

    def test_passes_correct_list_to_template(self):
        List.objects.create()
        correct_list = List.objects.create()
        response = self.client.get(f"/lists/{correct_list.id}/")
        self.assertEqual(response.context["list"], correct_list)

    def test_missing_list_is_404(self):
        with self.assertLogs("django.request", "WARNING"):
            response = self.client.get("/lists/999999/")
        self.assertEqual(response.status_code, 404)


class AddItemTest(TestCase):
    """Both POST /lists/<id>/add_item and POST /lists/<id>/ add to the list."""

    urls = ["/lists/{}/add_item", "/lists/{}/"]

    def test_can_save_a_post_request_to_an_existing_list(self):
        for url in self.urls:
            with self.subTest(url=url):
                List.objects.create()
                correct_list = List.objects.create()
                self.client.post(
                    url.format(correct_list.id),
                    data={"item_text": f"A new item via {url}"},
                )
                new_item = Item.objects.get(text=f"A new item via {url}")
                self.assertEqual(new_item.list, correct_list)

    def test_redirects_to_list_view(self):
        for url in self.urls:
            with self.subTest(url=url):
                correct_list = List.objects.create()
                response = self.client.post(
                    url.format(correct_list.id), data={"item_text": "An item"}
                )
                self.assertRedirects(response, f"/lists/{correct_list.id}/")

    def test_empty_item_shows_error_and_saves_nothing(self):
        for url in self.urls:
            with self.subTest(url=url):
                list_ = List.objects.create()
                response = self.client.post(
                    url.format(list_.id), data={"item_text": ""}
                )
                self.assertEqual(response.status_code, 200)
                self.assertTemplateUsed(response, "list.html")
                self.assertContains(response, escape(EMPTY_ITEM_ERROR))
                self.assertEqual(list_.item_set.count(), 0)

    def test_duplicate_item_shows_error_and_saves_nothing(self):
        for url in self.urls:
            with self.subTest(url=url):
                list_ = List.objects.create()
                Item.objects.create(list=list_, text="textey")
                response = self.client.post(
                    url.format(list_.id), data={"item_text": "textey"}
                )
                self.assertEqual(response.status_code, 200)
                self.assertTemplateUsed(response, "list.html")
                self.assertContains(response, escape(DUPLICATE_ITEM_ERROR))
                self.assertContains(response, "<td>1: textey</td>", html=True)
                self.assertEqual(list_.item_set.count(), 1)

    def test_add_item_refuses_get(self):
        list_ = List.objects.create()
        with self.assertLogs("django.request", "WARNING"):
            response = self.client.get(f"/lists/{list_.id}/add_item")
        self.assertEqual(response.status_code, 405)

    def test_lists_are_isolated(self):
        first = List.objects.create()
        second = List.objects.create()
        self.client.post(f"/lists/{first.id}/add_item", data={"item_text": "first's"})
        self.client.post(f"/lists/{second.id}/add_item", data={"item_text": "second's"})
        response = self.client.get(f"/lists/{second.id}/")
        self.assertContains(response, "<td>1: second&#x27;s</td>", html=True)
        self.assertNotContains(response, "first")

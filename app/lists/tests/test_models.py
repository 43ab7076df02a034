from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test import TestCase

from lists.models import Item, List


class ListModelTest(TestCase):
    def test_get_absolute_url(self):
        list_ = List.objects.create()
        self.assertEqual(list_.get_absolute_url(), f"/lists/{list_.id}/")


class ItemModelTest(TestCase):
    def test_saving_and_retrieving_items(self):
        list_ = List.objects.create()
        Item.objects.create(list=list_, text="The first (ever) list item")
        Item.objects.create(list=list_, text="Item the second")

        saved = Item.objects.all()
        self.assertEqual(saved.count(), 2)
        self.assertEqual(saved[0].text, "The first (ever) list item")
        self.assertEqual(saved[0].list, list_)
        self.assertEqual(saved[1].text, "Item the second")
        self.assertEqual(saved[1].list, list_)

    def test_items_are_ordered_by_id(self):
        list_ = List.objects.create()
        texts = ["zebra", "apple", "mango"]
        for text in texts:
            Item.objects.create(list=list_, text=text)
        self.assertEqual([item.text for item in list_.item_set.all()], texts)

    def test_empty_item_is_invalid(self):
        item = Item(list=List.objects.create(), text="")
        with self.assertRaises(ValidationError):
            item.full_clean()

    def test_duplicate_item_in_same_list_is_rejected_by_validation(self):
        list_ = List.objects.create()
        Item.objects.create(list=list_, text="bla")
        with self.assertRaises(ValidationError):
            Item(list=list_, text="bla").full_clean()

    def test_duplicate_item_in_same_list_is_rejected_by_the_database(self):
        list_ = List.objects.create()
        Item.objects.create(list=list_, text="bla")
        with self.assertRaises(IntegrityError), transaction.atomic():
            Item.objects.create(list=list_, text="bla")

    def test_same_text_in_different_lists_is_fine(self):
        Item.objects.create(list=List.objects.create(), text="bla")
        item = Item(list=List.objects.create(), text="bla")
        item.full_clean()  # should not raise
        item.save()
        self.assertEqual(Item.objects.filter(text="bla").count(), 2)

    def test_string_representation(self):
        self.assertEqual(str(Item(text="some text")), "some text")

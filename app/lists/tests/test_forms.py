from django.test import TestCase

from lists.forms import (
    DUPLICATE_ITEM_ERROR,
    EMPTY_ITEM_ERROR,
    ExistingListItemForm,
    NewListForm,
)
from lists.models import Item, List


class NewListFormTest(TestCase):
    def test_renders_the_item_input(self):
        html = NewListForm().as_p()
        self.assertIn('name="item_text"', html)
        self.assertIn('id="id_new_item"', html)
        self.assertIn('placeholder="Enter a to-do item"', html)
        self.assertIn('class="form-control form-control-lg"', html)
        self.assertIn("required", html)

    def test_blank_item_is_invalid(self):
        for blank in ["", "   "]:
            with self.subTest(blank=blank):
                form = NewListForm(data={"item_text": blank})
                self.assertFalse(form.is_valid())
                self.assertEqual(form.errors["item_text"], [EMPTY_ITEM_ERROR])

    def test_invalid_form_marks_the_input_invalid(self):
        form = NewListForm(data={"item_text": ""})
        form.is_valid()
        self.assertIn("is-invalid", str(form["item_text"]))

    def test_save_creates_a_list_with_the_item(self):
        form = NewListForm(data={"item_text": "do me"})
        self.assertTrue(form.is_valid())
        list_ = form.save()
        self.assertEqual(List.objects.count(), 1)
        self.assertEqual([item.text for item in list_.item_set.all()], ["do me"])


class ExistingListItemFormTest(TestCase):
    def test_blank_item_is_invalid(self):
        form = ExistingListItemForm(
            for_list=List.objects.create(), data={"item_text": ""}
        )
        self.assertFalse(form.is_valid())
        self.assertEqual(form.errors["item_text"], [EMPTY_ITEM_ERROR])

    def test_duplicate_item_is_invalid(self):
        list_ = List.objects.create()
        Item.objects.create(list=list_, text="no twins!")
        form = ExistingListItemForm(for_list=list_, data={"item_text": "no twins!"})
        self.assertFalse(form.is_valid())
        self.assertEqual(form.errors["item_text"], [DUPLICATE_ITEM_ERROR])

    def test_same_text_in_another_list_is_valid(self):
        Item.objects.create(list=List.objects.create(), text="shared")
        form = ExistingListItemForm(
            for_list=List.objects.create(), data={"item_text": "shared"}
        )
        self.assertTrue(form.is_valid())

    def test_save_adds_the_item_to_the_list(self):
        list_ = List.objects.create()
        form = ExistingListItemForm(for_list=list_, data={"item_text": "hi"})
        self.assertTrue(form.is_valid())
        item = form.save()
        self.assertEqual(item.list, list_)
        self.assertEqual(Item.objects.get().text, "hi")

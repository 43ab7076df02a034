from django import forms

from lists.models import Item, List

EMPTY_ITEM_ERROR = "You can't have an empty list item"
DUPLICATE_ITEM_ERROR = "You've already got this in your list"


class ItemForm(forms.Form):
    """The one-input form on the home page: its item starts a new list."""

    item_text = forms.CharField(
        error_messages={"required": EMPTY_ITEM_ERROR},
        widget=forms.TextInput(
            attrs={
                "id": "id_new_item",
                "placeholder": "Enter a to-do item",
                "class": "form-control form-control-lg",
            }
        ),
    )

    def full_clean(self):
        super().full_clean()
        if self.errors:  # let Bootstrap show the input and its message as invalid
            widget = self.fields["item_text"].widget
            widget.attrs["class"] += " is-invalid"

    def save(self, for_list):
        return Item.objects.create(list=for_list, text=self.cleaned_data["item_text"])


class NewListForm(ItemForm):
    def save(self):
        return super().save(for_list=List.objects.create()).list


class ExistingListItemForm(ItemForm):
    """The form on a list page: it also refuses an item the list already has."""

    def __init__(self, for_list, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.list = for_list

    def clean_item_text(self):
        text = self.cleaned_data["item_text"]
        if self.list.item_set.filter(text=text).exists():
            raise forms.ValidationError(DUPLICATE_ITEM_ERROR)
        return text

    def save(self):
        return super().save(for_list=self.list)

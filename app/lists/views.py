from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from lists.forms import ExistingListItemForm, NewListForm
from lists.models import List


def home_page(request):
    return render(request, "home.html", {"form": NewListForm()})


@require_POST
def new_list(request):
    form = NewListForm(data=request.POST)
    if form.is_valid():
        with transaction.atomic():
            list_ = form.save()
        return redirect(list_)
    return render(request, "home.html", {"form": form})


def view_list(request, list_id):
    list_ = get_object_or_404(List, id=list_id)
    if request.method == "POST":
        return _add_item(request, list_)
    return render(
        request,
        "list.html",
        {"list": list_, "form": ExistingListItemForm(for_list=list_)},
    )


@require_POST
def add_item(request, list_id):
    return _add_item(request, get_object_or_404(List, id=list_id))


def _add_item(request, list_):
    form = ExistingListItemForm(for_list=list_, data=request.POST)
    if form.is_valid():
        form.save()
        return redirect(list_)
    return render(request, "list.html", {"list": list_, "form": form})

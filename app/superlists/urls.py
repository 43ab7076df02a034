from django.urls import include, path

from lists import views as list_views
from superlists import health

urlpatterns = [
    path("", list_views.home_page, name="home"),
    path("lists/", include("lists.urls")),
    path("health/", health.health, name="health"),
]

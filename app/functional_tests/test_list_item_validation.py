from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from functional_tests.base import FunctionalTest

EMPTY_ITEM_ERROR = "You can't have an empty list item"
DUPLICATE_ITEM_ERROR = "You've already got this in your list"


class ItemValidationTest(FunctionalTest):
    """The input has the HTML `required` attribute, so the browser itself
    refuses an empty submission (the input is :invalid and nothing is sent).
    Text of only spaces gets past the browser, and the server refuses it with
    a visible error message."""

    def test_cannot_add_empty_list_items(self):
        # Edith goes to the home page and accidentally submits an empty item.
        self.browser.get(self.live_server_url)
        home_url = self.browser.current_url
        self.get_item_input_box().send_keys(Keys.ENTER)

        # The browser intercepts the request and does not load the list page.
        self.wait_for(
            lambda: self.browser.find_element(By.CSS_SELECTOR, "#id_new_item:invalid")
        )
        self.assertEqual(self.browser.current_url, home_url)

        # She starts typing some text for the new item and the error disappears.
        item = self.unique("Buy milk")
        self.get_item_input_box().send_keys(item)
        self.wait_for(
            lambda: self.browser.find_element(By.CSS_SELECTOR, "#id_new_item:valid")
        )

        # And she can submit it successfully.
        self.get_item_input_box().send_keys(Keys.ENTER)
        self.wait_for_row_in_list_table(f"1: {item}")

        # Perversely, she now submits a second blank item on the list page:
        # again the browser does not comply.
        self.get_item_input_box().send_keys(Keys.ENTER)
        self.wait_for(
            lambda: self.browser.find_element(By.CSS_SELECTOR, "#id_new_item:invalid")
        )

        # She tries to sneak past it with nothing but spaces: the server
        # refuses that, and says why.
        self.get_item_input_box().send_keys("   " + Keys.ENTER)
        self.wait_for(
            lambda: self.assertEqual(self.get_error_element().text, EMPTY_ITEM_ERROR)
        )
        self.assertTrue(self.get_error_element().is_displayed())

        # Nothing was added to her list.
        rows = self.browser.find_elements(By.CSS_SELECTOR, "#id_list_table tr")
        self.assertEqual([row.text for row in rows], [f"1: {item}"])

        # She can correct it by filling some text in.
        self.get_item_input_box().clear()
        tea = self.unique("Make tea")
        self.add_list_item(tea, 2)
        self.wait_for_row_in_list_table(f"1: {item}")

    def test_cannot_add_empty_item_on_the_home_page_via_spaces(self):
        # On the home page, an item of only spaces is refused by the server too.
        self.browser.get(self.live_server_url)
        self.get_item_input_box().send_keys("   " + Keys.ENTER)
        self.wait_for(
            lambda: self.assertEqual(self.get_error_element().text, EMPTY_ITEM_ERROR)
        )
        self.assertIn(
            "Start a new To-Do list", self.browser.find_element(By.TAG_NAME, "h1").text
        )

    def test_cannot_add_duplicate_items(self):
        # Edith goes to the home page and starts a new list.
        self.browser.get(self.live_server_url)
        item = self.unique("Buy wellies")
        self.add_list_item(item, 1)

        # She accidentally tries to enter a duplicate item.
        self.get_item_input_box().send_keys(item + Keys.ENTER)

        # She sees a helpful error message, and the item is not added twice.
        self.wait_for(
            lambda: self.assertEqual(
                self.get_error_element().text, DUPLICATE_ITEM_ERROR
            )
        )
        self.assertTrue(self.get_error_element().is_displayed())
        rows = self.browser.find_elements(By.CSS_SELECTOR, "#id_list_table tr")
        self.assertEqual([row.text for row in rows], [f"1: {item}"])

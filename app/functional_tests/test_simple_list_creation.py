import re

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from functional_tests.base import FunctionalTest


class NewVisitorTest(FunctionalTest):
    def test_can_start_a_list_and_add_two_items(self):
        # Edith has heard about a cool new online to-do app. She goes to its home page.
        self.browser.get(self.live_server_url)

        # She notices the page title and header mention to-do lists.
        self.assertIn("To-Do lists", self.browser.title)
        header_text = self.browser.find_element(By.TAG_NAME, "h1").text
        self.assertIn("Start a new To-Do list", header_text)

        # She is invited to enter a to-do item straight away.
        inputbox = self.get_item_input_box()
        self.assertEqual(inputbox.get_attribute("placeholder"), "Enter a to-do item")

        # She types "Buy peacock feathers" and hits enter: the page now lists
        # "1: Buy peacock feathers" as an item in a to-do list table.
        first = self.unique("Buy peacock feathers")
        inputbox.send_keys(first)
        inputbox.send_keys(Keys.ENTER)
        self.wait_for_row_in_list_table(f"1: {first}")
        self.assertRegex(self.browser.current_url, r"/lists/\d+/$")
        self.assertIn(
            "Your To-Do list", self.browser.find_element(By.TAG_NAME, "h1").text
        )

        # There is still a text box inviting her to add another item.
        second = self.unique("Use peacock feathers to make a fly")
        self.add_list_item(second, 2)

        # Both items are on her list, in order.
        self.wait_for_row_in_list_table(f"1: {first}")
        self.wait_for_row_in_list_table(f"2: {second}")

    def test_multiple_users_can_start_lists_at_different_urls(self):
        # Edith starts a new to-do list.
        edith_item = self.unique("Buy peacock feathers")
        self.browser.get(self.live_server_url)
        self.add_list_item(edith_item, 1)

        # Her list has a unique URL.
        edith_list_url = self.browser.current_url
        self.assertRegex(edith_list_url, r"/lists/\d+/$")

        # Francis comes along, in a brand new browser session.
        self.restart_browser()

        # He visits the home page: there is no sign of Edith's list.
        self.browser.get(self.live_server_url)
        self.wait_for(lambda: self.get_item_input_box())
        page_text = self.browser.find_element(By.TAG_NAME, "body").text
        self.assertNotIn(edith_item, page_text)

        # He starts a list of his own.
        francis_item = self.unique("Buy milk")
        self.add_list_item(francis_item, 1)

        # He gets his own unique URL.
        francis_list_url = self.browser.current_url
        self.assertRegex(francis_list_url, r"/lists/\d+/$")
        self.assertNotEqual(francis_list_url, edith_list_url)

        # Still no trace of Edith's list; his item is the only row.
        page_text = self.browser.find_element(By.TAG_NAME, "body").text
        self.assertNotIn(edith_item, page_text)
        rows = self.browser.find_elements(By.CSS_SELECTOR, "#id_list_table tr")
        self.assertEqual([row.text for row in rows], [f"1: {francis_item}"])

        # Edith's list is still hers, unchanged.
        self.browser.get(edith_list_url)
        self.wait_for_row_in_list_table(f"1: {edith_item}")
        page_text = self.browser.find_element(By.TAG_NAME, "body").text
        self.assertNotIn(francis_item, page_text)
        self.assertTrue(re.search(r"/lists/\d+/$", self.browser.current_url))

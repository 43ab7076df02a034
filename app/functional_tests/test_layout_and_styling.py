from selenium.webdriver.common.by import By

from functional_tests.base import FunctionalTest


class LayoutAndStylingTest(FunctionalTest):
    """Fails when the CSS (Bootstrap, a static file) is not served."""

    def assert_input_box_centred(self):
        inputbox = self.get_item_input_box()
        centre = inputbox.location["x"] + inputbox.size["width"] / 2
        # The viewport, not the window: a vertical scrollbar would narrow it.
        viewport_width = self.browser.execute_script(
            "return document.documentElement.clientWidth"
        )
        self.assertAlmostEqual(centre, viewport_width / 2, delta=10)

    def test_layout_and_styling(self):
        # Edith goes to the home page in a 1024x768 window.
        self.browser.get(self.live_server_url)
        self.assertEqual(
            self.browser.execute_script(
                "return [window.outerWidth, window.outerHeight]"
            ),
            [1024, 768],
        )

        # She notices the input box is nicely centred.
        self.wait_for(self.assert_input_box_centred)

        # She starts a new list and sees the input is nicely centred there too.
        self.add_list_item(self.unique("testing"), 1)
        self.wait_for(self.assert_input_box_centred)

        # And Bootstrap really is in charge: the input is styled as a form control.
        inputbox = self.get_item_input_box()
        self.assertIn("form-control", inputbox.get_attribute("class"))
        self.assertGreater(inputbox.size["width"], 400)

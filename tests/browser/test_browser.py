"""The course in a real browser: JupyterLab, a lesson, nbgrader's Formgrader and
Assignment List, in headless Chromium (issue 8).

Every server runs on 127.0.0.1 with a token, like `make lab`. Only the first test
serves the repository itself and only looks at it; the others work on temporary
copies, so nothing the browser does (JupyterLab autosaves, nbgrader writes a
gradebook and an exchange) touches the committed files.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from .conftest import ARTIFACTS, ROOT

pytestmark = pytest.mark.browser

LESSON = "02_forward_mode.ipynb"
STDERR = '.jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]'


# -- JupyterLab, as a person uses it ------------------------------------------------

def wait(driver, seconds: float = 60) -> WebDriverWait:
    return WebDriverWait(driver, seconds, poll_frequency=0.25,
                         ignored_exceptions=(StaleElementReferenceException,))


def open_lab(driver, lab, path: str = "lab") -> None:
    driver.get(lab.url(path))
    wait(driver, 90).until(EC.presence_of_element_located(
        (By.CSS_SELECTOR, ".jp-FileBrowser .jp-DirListing-content")))


def listed_names(driver) -> set[str]:
    items = driver.find_elements(By.CSS_SELECTOR, ".jp-FileBrowser .jp-DirListing-item")
    return {item.find_element(By.CSS_SELECTOR, ".jp-DirListing-itemText").text for item in items}


def file_item(driver, name: str):
    def find(d):
        for item in d.find_elements(By.CSS_SELECTOR, ".jp-FileBrowser .jp-DirListing-item"):
            if item.find_element(By.CSS_SELECTOR, ".jp-DirListing-itemText").text == name:
                return item
        return False
    return wait(driver).until(find, f"{name!r} is not listed in the file browser")


def open_in_file_browser(driver, *names: str) -> None:
    """Double-click each name in turn: folders, then a file."""
    for name in names:
        ActionChains(driver).double_click(file_item(driver, name)).perform()


def run_menu_command(driver, menu: str, item: str) -> None:
    """Click `menu` in the main menu bar, then its item labelled `item`."""
    labels = driver.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-item .lm-MenuBar-itemLabel")
    label = next((x for x in labels if x.text == menu), None)
    assert label is not None, f"no {menu!r} menu in {[x.text for x in labels]}"
    label.click()
    wait(driver, 10).until(EC.element_to_be_clickable((By.XPATH, (
        '//ul[contains(@class,"lm-Menu-content")]/li[contains(@class,"lm-Menu-item")]'
        f'[div[contains(@class,"lm-Menu-itemLabel")][normalize-space()="{item}"]]')))).click()


def wait_kernel_idle(driver, panel, seconds: float = 120) -> None:
    """Every code cell of the notebook has run: an execution count, no [*]."""
    def done(_):
        prompts = panel.find_elements(By.CSS_SELECTOR, ".jp-CodeCell .jp-InputArea-prompt")
        texts = [p.get_attribute("textContent").strip() for p in prompts]
        return bool(texts) and all(re.fullmatch(r"\[\d+\]:", t) for t in texts)
    wait(driver, seconds).until(done, "the notebook's cells did not all run")


def notebook_panel(driver, name: str):
    """The notebook tab whose title is `name`, once its cells are shown."""
    def find(d):
        for panel in d.find_elements(By.CSS_SELECTOR, ".jp-NotebookPanel"):
            if panel.is_displayed() and panel.find_elements(By.CSS_SELECTOR, ".jp-Cell"):
                return panel
        return False
    wait(driver, 60).until(EC.presence_of_element_located(
        (By.XPATH, f'//li[contains(@class,"lm-TabBar-tab")][.//div[text()="{name}"]]')))
    return wait(driver, 60).until(find, f"{name} did not open")


def wait_kernel_ready(driver, seconds: float = 90) -> None:
    """The status bar says the notebook's kernel is connected and idle."""
    wait(driver, seconds).until(lambda d: d.execute_script(
        "return [...document.querySelectorAll('.jp-StatusBar-Widget')].some("
        "  w => w.textContent.replace(/\\s+/g, ' ').includes('| Idle'));"),
        "the kernel did not become idle")


# -- 1 and 2: the repository and a lesson ------------------------------------------

def test_make_lab_file_browser_shows_notebooks_and_course(start_lab, browser, tmp_path) -> None:
    lab = start_lab(ROOT, tmp_path, via_make=True)
    open_lab(browser, lab)
    wait(browser).until(lambda d: {"notebooks", "course"} <= listed_names(d),
                        "the file browser does not list notebooks/ and course/")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "browser-1-file-browser.png"))


def stored_outputs(path: Path) -> dict[str, int]:
    """How many graphs (SVG) and plots (PNG) the committed lesson shows."""
    counts = {"image/svg+xml": 0, "image/png": 0}
    for cell in nbformat.read(path, as_version=4).cells:
        for output in cell.get("outputs", []):
            for mime in counts:
                counts[mime] += mime in output.get("data", {})
    return counts


def test_lesson_02_runs_all_cells_and_renders_graph_and_plots(start_lab, browser, tmp_path) -> None:
    # A copy of the lessons: running them in place would autosave over the
    # committed outputs.
    served = tmp_path / "repo"
    shutil.copytree(ROOT / "notebooks", served / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    expected = stored_outputs(ROOT / "notebooks" / LESSON)
    assert expected["image/svg+xml"] >= 1, "lesson 02 should draw at least one graph"

    lab = start_lab(served, tmp_path / "home")
    open_lab(browser, lab)
    open_in_file_browser(browser, "notebooks", LESSON)
    panel = notebook_panel(browser, LESSON)
    wait_kernel_ready(browser)
    # The lesson is stored executed: clear it first, so what is seen is this run's.
    run_menu_command(browser, "Edit", "Clear Outputs of All Cells")
    wait(browser, 10).until(lambda d: not panel.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output"))
    run_menu_command(browser, "Run", "Run All Cells")
    wait_kernel_idle(browser, panel)

    # Graphviz: JupyterLab renders image/svg+xml of a trusted (just run) output
    # as an <img> holding the SVG; matplotlib's PNGs as <img> too.
    graphs = panel.find_elements(
        By.CSS_SELECTOR, '.jp-OutputArea-output.jp-RenderedSVG img[src^="data:image/svg+xml"]')
    plots = panel.find_elements(
        By.CSS_SELECTOR, '.jp-OutputArea-output.jp-RenderedImage img[src^="data:image/png"]')
    assert len(graphs) == expected["image/svg+xml"], "the computation graphs are not all drawn"
    assert len(plots) == expected["image/png"], "the plots are not all drawn"
    for img in graphs + plots:
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", img)
        wait(browser, 10).until(lambda d, img=img: d.execute_script(
            "return arguments[0].complete && arguments[0].naturalWidth > 0;", img),
            "an image output did not load")
    assert "<svg" in browser.execute_script(
        "return decodeURIComponent(arguments[0].src.split(',')[1]);", graphs[0])
    errors = panel.find_elements(By.CSS_SELECTOR, STDERR)
    assert not errors, "error output after Run All:\n" + "\n".join(e.text for e in errors)

    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", graphs[0])
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "browser-2-lesson-02.png"))


# -- 3 and 4: nbgrader, for the instructor and for a learner ------------------------

ASSIGNMENTS = sorted(p.name for p in (ROOT / "course" / "source").iterdir() if p.is_dir())
EXERCISE = "finite_differences"  # ps1's first and simplest exercise
# Typed line by line (one-line definitions, so the editor's auto-indent has no say).
ANSWER = (
    "step = lambda x, h, p: h if h is not None else np.finfo(float).eps ** p * max(1.0, abs(x))\n"
    "forward_difference = lambda f, x, h=None: (f(x + step(x, h, 1/2)) - f(x)) / step(x, h, 1/2)\n"
    "central_difference = lambda f, x, h=None: "
    "(f(x + step(x, h, 1/3)) - f(x - step(x, h, 1/3))) / (2 * step(x, h, 1/3))")
# The usual slip: the central difference divided by h instead of 2h.
WRONG_ANSWER = ANSWER.replace("/ (2 * step(x, h, 1/3))", "/ step(x, h, 1/3)")


def run_grading(course: Path, *args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "grading", "--course-root", str(course), *args],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def released_course(tmp_path_factory) -> Path:
    """A copy of course/ with a fresh gradebook: every assignment generated (so
    nbgrader knows them) and ps1 released into the course's local exchange."""
    course = tmp_path_factory.mktemp("instructor") / "course"
    course.mkdir()
    shutil.copy(ROOT / "course" / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "course" / "source", course / "source",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    run_grading(course, "release")
    run_grading(course, "release", "ps1_forward_mode", "--exchange")
    return course


def test_formgrader_lists_the_four_assignments(start_lab, browser, released_course,
                                                tmp_path) -> None:
    # The instructor starts JupyterLab from the course folder (docs/instructors.md).
    lab = start_lab(released_course, tmp_path, cwd=released_course)
    open_lab(browser, lab)
    run_menu_command(browser, "Nbgrader", "Formgrader")
    frame = wait(browser).until(EC.presence_of_element_located(
        (By.CSS_SELECTOR, "#formgrader iframe")))
    browser.switch_to.frame(frame)

    def rows(d):
        cells = d.find_elements(By.CSS_SELECTOR, "#main-table tr")
        found = {}
        for row in cells:
            names = row.find_elements(By.CSS_SELECTOR, "td.name")
            status = row.find_elements(By.CSS_SELECTOR, "td.status")
            if names and names[0].text.strip():
                found[names[0].text.strip()] = status[0].text.strip() if status else ""
        return found if len(found) >= len(ASSIGNMENTS) else False

    listed = wait(browser).until(rows, "the Formgrader does not list the assignments")
    assert sorted(listed) == ASSIGNMENTS == [
        "ps1_forward_mode", "ps2_reverse_mode", "ps3_lagrangian", "ps4_cheap_gradients"]
    assert listed["ps1_forward_mode"].lower() == "released"
    browser.switch_to.default_content()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "browser-3-formgrader.png"))


def answer_the_other_exercises(notebook: Path, source: Path, skip: str) -> None:
    """A learner who has done the rest: every answer cell but `skip` gets the
    model answer, so Validate speaks of `skip` alone."""
    model = {cell.metadata["nbgrader"]["grade_id"]: cell.source
             for cell in nbformat.read(source, as_version=4).cells
             if cell.metadata.get("nbgrader", {}).get("solution")}
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in model and grade_id != skip:
            cell.source = model[grade_id]
            if cell.cell_type == "markdown":  # the markers are for nbgrader's eyes only
                cell.source = "\n".join(line for line in cell.source.splitlines()
                                        if "### BEGIN SOLUTION" not in line
                                        and "### END SOLUTION" not in line)
    nbformat.write(nb, notebook)


def type_into_cell(driver, panel, marker: str, text: str) -> None:
    """Click into the code cell whose text contains `marker`, select all, type `text`."""
    def cell_editor(_):
        for cell in panel.find_elements(By.CSS_SELECTOR, ".jp-CodeCell"):
            editor = cell.find_element(By.CSS_SELECTOR, ".cm-content")
            if marker in editor.get_attribute("textContent"):
                return editor
        return False
    editor = wait(driver, 30).until(cell_editor, f"no cell holds {marker!r}")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", editor)
    editor.click()
    ActionChains(driver).key_down(Keys.CONTROL).send_keys("a").key_up(Keys.CONTROL).perform()
    ActionChains(driver).send_keys(Keys.DELETE).perform()
    for line in text.split("\n"):
        ActionChains(driver).send_keys(line).perform()
        ActionChains(driver).send_keys(Keys.ENTER).perform()
    typed = editor.get_attribute("textContent")
    assert all(line in typed for line in text.split("\n")), f"the cell holds {typed!r}"


def validate(driver, panel, artefact: str) -> WebElement:
    """Click the notebook's Validate button; the message of the dialog it opens."""
    panel.find_element(By.CSS_SELECTOR, ".validate-button").click()
    message = wait(driver, 180).until(EC.visibility_of_element_located(
        (By.CSS_SELECTOR, ".jp-Dialog #validation-message")), "Validate reported nothing")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / artefact))
    return message


def close_dialog(driver) -> None:
    driver.find_element(By.CSS_SELECTOR, ".jp-Dialog .jp-Dialog-button.jp-mod-accept").click()
    wait(driver, 10).until(EC.invisibility_of_element_located((By.CSS_SELECTOR, ".jp-Dialog")))


def test_learner_fetches_answers_and_validates(start_lab, browser, released_course,
                                              tmp_path) -> None:
    from grading.pipeline import load_config

    # The learner's own folder, whose nbgrader_config.py names the course and the
    # exchange configured in course/nbgrader_config.py.
    exchange = load_config(released_course).Exchange.root
    student = tmp_path / "learner"
    student.mkdir()
    (student / "nbgrader_config.py").write_text(
        "c = get_config()  # noqa: F821\n"
        f"c.CourseDirectory.course_id = {'autodiff-course'!r}\n"
        f"c.Exchange.root = {str(exchange)!r}\n")
    lab = start_lab(student, tmp_path / "home", cwd=student)
    open_lab(browser, lab)

    # Nbgrader > Assignment List > Fetch
    run_menu_command(browser, "Nbgrader", "Assignment List")
    released = wait(browser).until(EC.presence_of_element_located((By.XPATH, (
        '//div[@id="released_assignments_list"]/div[contains(@class,"list_item")]'
        '[.//span[contains(@class,"item_name")][normalize-space()="ps1_forward_mode"]]'))),
        "ps1_forward_mode is not in the released assignments")
    assert "autodiff-course" in released.text
    released.find_element(By.XPATH, './/button[normalize-space()="Fetch"]').click()
    fetched = wait(browser).until(EC.presence_of_element_located((By.XPATH, (
        '//div[@id="fetched_assignments_list"]/div[contains(@class,"list_item")]'
        '[.//a[contains(@class,"assignment-notebooks-link")][normalize-space()="ps1_forward_mode"]]'))),
        "ps1_forward_mode was not fetched")
    notebook = student / "ps1_forward_mode" / "ps1_forward_mode.ipynb"
    assert notebook.is_file()
    answer_the_other_exercises(
        notebook, released_course / "source" / "ps1_forward_mode" / "ps1_forward_mode.ipynb",
        skip=EXERCISE)
    browser.save_screenshot(str(ARTIFACTS / "browser-4-assignment-list.png"))

    # Open the notebook from the Assignment List, type an answer, validate.
    fetched.find_element(By.CSS_SELECTOR, "a.assignment-notebooks-link").click()
    wait(browser, 10).until(EC.element_to_be_clickable((By.XPATH, (
        '//div[@id="fetched_assignments_list"]//div[contains(@class,"collapse")]'
        '//a[normalize-space()="ps1_forward_mode"]')))).click()
    panel = notebook_panel(browser, "ps1_forward_mode.ipynb")
    wait_kernel_ready(browser)

    type_into_cell(browser, panel, "def forward_difference", ANSWER)
    message = validate(browser, panel, "browser-4-validate-correct.png")
    assert "validation-success" in message.get_attribute("class"), message.text
    assert "Success! Your notebook passes all the tests." in message.text
    close_dialog(browser)

    type_into_cell(browser, panel, "forward_difference = lambda", WRONG_ANSWER)
    message = validate(browser, panel, "browser-4-validate-wrong.png")
    assert "validation-failed" in message.get_attribute("class"), message.text
    text = message.text
    assert "The following cell failed" in text
    assert "central_difference" in text and "AssertionError" in text
    assert "forward_difference(f, x) with" not in text  # the right half passes
    close_dialog(browser)

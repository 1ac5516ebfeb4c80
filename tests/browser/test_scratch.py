import time
from tests.browser.conftest import sign_in, wait_for_service_worker

def test_explore(phone, seed):
    page = phone.page
    t=time.monotonic()
    sign_in(page, seed.rep)
    print("signin", time.monotonic()-t, page.url, page.title())
    wait_for_service_worker(page)
    print("sw", time.monotonic()-t)
    cdp = phone.context.new_cdp_session(page)
    print(cdp.send("Page.getInstallabilityErrors"))
    print(cdp.send("Page.getAppManifest"))
    page.goto("/accounts")
    print(page.locator("h1").inner_text(), page.locator(".result-count").inner_text())
    phone.context.set_offline(True)
    page.reload()
    print("offline reload:", page.locator("h1").inner_text(), page.locator("#connection-status").inner_text())
    page.goto("/orders")
    print("offline new:", page.locator("h1").inner_text())
    phone.context.set_offline(False)
    print(phone.problems)

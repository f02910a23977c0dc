import httpx

from tests.helpers.accounts import Account


async def test_metrics_are_labelled_by_route_template(auth_client: httpx.AsyncClient, account: Account) -> None:
    await auth_client.get("/users/me", headers=account.headers)
    await auth_client.get("/definitely/not/a/route/12345")
    response = await auth_client.get("/metrics")
    assert response.status_code == 200
    text = response.text
    assert 'http_requests_total{method="GET",route="/users/me",status="200"}' in text
    assert 'route="<unmatched>"' in text
    assert "12345" not in text  # raw paths never become labels
    assert "http_request_duration_seconds_bucket" in text

from tests.conftest import User


def test_health_reports_database_ok(client):
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_user_fixture_can_reach_me(user: User):
    response = user.get("/api/v1/auth/me")
    assert response.status_code == 200
    assert response.get_json()["email"] == user.email

from tests.scim.conftest import staff_body

def test_smoke(scim):
    r = scim.post("/Users", staff_body())
    print(r.status_code, r.text)
    assert r.status_code == 201
    uid = r.json()["id"]
    r = scim.get("/Users", params={"filter": 'userName eq "BUDI.santoso" and emails[type eq "work" and value co "tangerang"]'})
    print(r.text)
    assert r.json()["totalResults"] == 1
    r = scim.patch(f"/Users/{uid}", {"op": "replace", "path": f"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "DINKES"})
    print(r.text)
    assert r.status_code == 200

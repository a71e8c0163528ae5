from tests.support import Api, unique_email

ME = "{ me { id email displayName emailVerified } }"


async def test_register_then_me(any_api: Api) -> None:
    email = unique_email()
    payload = await any_api.register(email, display_name="Ada  Lovelace")
    assert payload["user"]["email"] == email
    assert payload["user"]["displayName"] == "Ada Lovelace"
    me = (await any_api.gql(ME, token=payload["accessToken"])).data["me"]
    assert me == {
        "id": payload["user"]["id"],
        "email": email,
        "displayName": "Ada Lovelace",
        "emailVerified": False,
    }


async def test_me_is_null_when_anonymous(any_api: Api) -> None:
    assert (await any_api.gql(ME)).data == {"me": None}

"""Who uses the demo platform: five people from the first day, and newcomers who are
invited and join over the weeks, so that usage grows the way a real team's does."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import Group, User
from rest_framework.authtoken.models import Token

GROUPS = ("analysts", "engineers", "viewers")


@dataclass(frozen=True)
class Person:
    """A demo user. ``joins_on_day`` counts days from the start of the demo's history:
    0 for the founding team, later for newcomers, whom the admin invites first."""

    username: str
    full_name: str
    persona: str  # what they mostly do: analyst, engineer, viewer, admin
    groups: tuple[str, ...] = ()
    superuser: bool = False
    sittings_per_week: tuple[int, int] = (4, 7)
    joins_on_day: int = 0

    @property
    def password(self) -> str:
        return f"{self.username}-demo"

    @property
    def email(self) -> str:
        return f"{self.username}@example.com"

    @property
    def newcomer(self) -> bool:
        return self.joins_on_day > 0


FOUNDERS: tuple[Person, ...] = (
    Person("admin", "Ada Admin", "admin", (), True, (3, 5)),
    Person("alice", "Alice Martin", "analyst", ("analysts",), False, (8, 11)),
    Person("bob", "Bob Chen", "analyst", ("analysts", "engineers"), False, (6, 9)),
    Person("carol", "Carol Novak", "engineer", ("engineers",), False, (6, 9)),
    Person("dave", "Dave Okafor", "viewer", ("viewers",), False, (3, 5)),
)

NEWCOMERS: tuple[Person, ...] = (
    Person("emma", "Emma Schulz", "analyst", ("analysts",), False, (5, 8), 6),
    Person("farid", "Farid Haddad", "engineer", ("engineers",), False, (4, 7), 9),
    Person("grace", "Grace Liu", "viewer", ("viewers",), False, (2, 4), 12),
    Person("hugo", "Hugo Moreau", "analyst", ("analysts", "viewers"), False, (4, 7), 16),
    Person("ines", "Ines Costa", "engineer", ("engineers", "analysts"), False, (4, 6), 19),
    Person("jonas", "Jonas Berg", "viewer", ("viewers",), False, (2, 4), 23),
    Person("kenji", "Kenji Sato", "analyst", ("analysts",), False, (4, 7), 27),
    Person("lena", "Lena Novak", "viewer", ("viewers",), False, (2, 3), 30),
    Person("marco", "Marco Rossi", "engineer", ("engineers",), False, (3, 6), 33),
    Person("nadia", "Nadia Rahman", "analyst", ("analysts",), False, (3, 6), 36),
)

PEOPLE: tuple[Person, ...] = FOUNDERS + NEWCOMERS


def ensure_groups() -> dict[str, Group]:
    return {name: Group.objects.get_or_create(name=name)[0] for name in GROUPS}


def ensure_founder(person: Person, groups: dict[str, Group], joined: datetime) -> tuple[User, bool]:
    """A founder's account with its known password; an existing one is left as it is
    (its password may have been changed on purpose)."""
    user = User.objects.filter(username=person.username).first()
    if user is not None:
        return user, False
    first, last = person.full_name.split(" ", 1)
    user = User(
        username=person.username,
        email=person.email,
        first_name=first,
        last_name=last,
        is_staff=person.superuser,
        is_superuser=person.superuser,
        date_joined=joined,
    )
    user.set_password(person.password)
    user.save()
    user.groups.set([groups[name] for name in person.groups])
    return user, True


def accept_invitation(user: User, person: Person, groups: dict[str, Group], at: datetime) -> None:
    """What accepting an invitation does to the account ``invite_user`` made: a name, a
    password, the groups the admin put them in, and active from then on."""
    first, last = person.full_name.split(" ", 1)
    user.first_name, user.last_name = first, last
    user.is_active = True
    user.date_joined = at
    user.set_password(person.password)
    user.save()
    user.groups.set([groups[name] for name in person.groups])


def api_token(user: User) -> str:
    return Token.objects.get_or_create(user=user)[0].key

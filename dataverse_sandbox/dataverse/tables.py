"""The sandbox's tables: ``account`` and ``contact`` with their columns, keys and relationships, the system job
table ``asyncoperation`` (``BulkDelete``'s jobs) and the elastic table ``sample_event``.

Column names, types, lengths and labels follow Dataverse's own tables where they exist; columns prefixed
``sample_`` stand in for custom columns (a date-only and a decimal column). Not for the metadata types themselves:
see :mod:`.metadata`.
"""

from __future__ import annotations

from .metadata import AlternateKey, AttributeKind, AttributeMeta, CollectionNavigation, EntityMeta, Option

__all__ = ["build_catalog"]


def _sys(logical: str, kind: AttributeKind, display: str) -> AttributeMeta:
    return AttributeMeta(logical, kind, display, valid_for_create=False, valid_for_update=False)


_STATE = (Option(0, "Active"), Option(1, "Inactive"))
_STATUS = (Option(1, "Active", state=0), Option(2, "Inactive", state=1))
_YES_NO = (Option(0, "No"), Option(1, "Yes"))
_ALLOW_BLOCK = (Option(0, "Allow"), Option(1, "Do Not Allow"))
_MONEY_MIN, _MONEY_MAX = -922337203685477.0, 922337203685477.0


def _account() -> EntityMeta:
    kind = AttributeKind
    return EntityMeta(
        logical_name="account",
        entity_set_name="accounts",
        display_name="Account",
        primary_id="accountid",
        primary_name="name",
        object_type_code=1,
        # Learn's documented MetadataId of account, so samples copied from the docs work.
        metadata_id="70816501-edb9-4740-a16c-6a5efbc05d84",
        attributes=(
            AttributeMeta("accountid", kind.UNIQUEIDENTIFIER, "Account", valid_for_update=False),
            AttributeMeta("name", kind.STRING, "Account Name", max_length=160, required="ApplicationRequired"),
            AttributeMeta("accountnumber", kind.STRING, "Account Number", max_length=20),
            AttributeMeta("description", kind.MEMO, "Description", max_length=2000),
            AttributeMeta("telephone1", kind.STRING, "Main Phone", max_length=50),
            AttributeMeta("emailaddress1", kind.STRING, "Email", max_length=100),
            AttributeMeta("websiteurl", kind.STRING, "Website", max_length=200),
            AttributeMeta("address1_city", kind.STRING, "Address 1: City", max_length=80),
            AttributeMeta("address1_latitude", kind.DOUBLE, "Address 1: Latitude", min_value=-90.0, max_value=90.0),
            AttributeMeta("numberofemployees", kind.INTEGER, "Number of Employees", min_value=0.0, max_value=1e9),
            AttributeMeta("sample_discountrate", kind.DECIMAL, "Discount Rate", min_value=0.0, max_value=100.0),
            AttributeMeta("revenue", kind.MONEY, "Annual Revenue", min_value=_MONEY_MIN, max_value=_MONEY_MAX),
            AttributeMeta("creditlimit", kind.MONEY, "Credit Limit", min_value=_MONEY_MIN, max_value=_MONEY_MAX),
            AttributeMeta("creditonhold", kind.BOOLEAN, "Credit Hold", options=_YES_NO),
            AttributeMeta("donotemail", kind.BOOLEAN, "Do not allow Emails", options=_ALLOW_BLOCK),
            AttributeMeta(
                "accountcategorycode",
                kind.PICKLIST,
                "Category",
                options=(Option(1, "Preferred Customer"), Option(2, "Standard")),
            ),
            AttributeMeta(
                "industrycode",
                kind.PICKLIST,
                "Industry",
                # German labels too (language 1031), as an organisation with German installed has them.
                options=(
                    Option(1, "Accounting", translations=((1031, "Buchhaltung"),)),
                    Option(2, "Agriculture and Non-petrol Natural Resource Extraction"),
                    Option(3, "Broadcasting Printing and Publishing"),
                    Option(4, "Brokers", translations=((1031, "Makler"),)),
                    Option(5, "Building Supply Retail"),
                    Option(6, "Business Services"),
                    Option(7, "Consulting", translations=((1031, "Beratung"),)),
                ),
            ),
            # A multi-select choice column as makers add them, with German labels too.
            AttributeMeta(
                "sample_colours",
                kind.MULTISELECT,
                "Colours",
                options=(
                    Option(1, "Red", translations=((1031, "Rot"),)),
                    Option(2, "Blue", translations=((1031, "Blau"),)),
                    Option(3, "Green", translations=((1031, "Grün"),)),
                ),
            ),
            AttributeMeta("lastonholdtime", kind.DATETIME, "Last On Hold Time"),
            AttributeMeta("sample_establishedon", kind.DATEONLY, "Established On"),
            AttributeMeta("statecode", kind.STATE, "Status", options=_STATE),
            AttributeMeta("statuscode", kind.STATUS, "Status Reason", options=_STATUS),
            AttributeMeta(
                "primarycontactid", kind.LOOKUP, "Primary Contact", target="contact", navigation="primarycontactid"
            ),
            AttributeMeta(
                "transactioncurrencyid",
                kind.LOOKUP,
                "Currency",
                target="transactioncurrency",
                navigation="transactioncurrencyid",
            ),
            # A file column as makers add them (MaxSizeInKB 32768, the default) and account's own image column.
            AttributeMeta(
                "sample_contract",
                kind.FILE,
                "Contract",
                valid_for_create=False,
                valid_for_update=False,
                max_size_kb=32768,
            ),
            AttributeMeta(
                "sample_contract_name",
                kind.STRING,
                "Contract: File Name",
                max_length=200,
                valid_for_create=False,
                valid_for_update=False,
                attribute_of="sample_contract",
            ),
            # A file column at Dataverse's largest MaxSizeInKB (10 GB), for transfers of large files.
            AttributeMeta(
                "sample_archive",
                kind.FILE,
                "Archive",
                valid_for_create=False,
                valid_for_update=False,
                max_size_kb=10485760,
            ),
            AttributeMeta(
                "sample_archive_name",
                kind.STRING,
                "Archive: File Name",
                max_length=200,
                valid_for_create=False,
                valid_for_update=False,
                attribute_of="sample_archive",
            ),
            AttributeMeta("entityimage", kind.IMAGE, "Default Image", max_size_kb=10240),
            _sys("entityimageid", kind.UNIQUEIDENTIFIER, "Entity Image Id"),
            _sys("entityimage_timestamp", kind.BIGINT, "Entity Image Timestamp"),
            _sys("entityimage_url", kind.STRING, "Entity Image Url"),
            _sys("createdon", kind.DATETIME, "Created On"),
            _sys("modifiedon", kind.DATETIME, "Modified On"),
            _sys("versionnumber", kind.BIGINT, "Version Number"),
        ),
        alternate_keys=(AlternateKey("sample_accountnumber_key", ("accountnumber",)),),
        collections=(CollectionNavigation("contact_customer_accounts", "contact", "parentcustomerid"),),
    )


def _contact() -> EntityMeta:
    kind = AttributeKind
    return EntityMeta(
        logical_name="contact",
        entity_set_name="contacts",
        display_name="Contact",
        primary_id="contactid",
        primary_name="fullname",
        object_type_code=2,
        metadata_id="608861bc-50a4-4c5f-a02c-21fe1943e2cf",
        attributes=(
            AttributeMeta("contactid", kind.UNIQUEIDENTIFIER, "Contact", valid_for_update=False),
            AttributeMeta(
                "fullname", kind.STRING, "Full Name", max_length=160, valid_for_create=False, valid_for_update=False
            ),
            AttributeMeta("firstname", kind.STRING, "First Name", max_length=50),
            AttributeMeta("lastname", kind.STRING, "Last Name", max_length=50, required="ApplicationRequired"),
            AttributeMeta("emailaddress1", kind.STRING, "Email", max_length=100),
            AttributeMeta("telephone1", kind.STRING, "Business Phone", max_length=50),
            AttributeMeta("jobtitle", kind.STRING, "Job Title", max_length=100),
            AttributeMeta("description", kind.MEMO, "Description", max_length=2000),
            AttributeMeta("numberofchildren", kind.INTEGER, "No. of Children", min_value=0.0, max_value=1e9),
            AttributeMeta("annualincome", kind.MONEY, "Annual Income", min_value=_MONEY_MIN, max_value=_MONEY_MAX),
            AttributeMeta("creditonhold", kind.BOOLEAN, "Credit Hold", options=_YES_NO),
            AttributeMeta("donotemail", kind.BOOLEAN, "Do not allow Emails", options=_ALLOW_BLOCK),
            AttributeMeta("gendercode", kind.PICKLIST, "Gender", options=(Option(1, "Male"), Option(2, "Female"))),
            AttributeMeta("birthdate", kind.DATEONLY, "Birthday"),
            AttributeMeta("lastusedincampaign", kind.DATETIME, "Last Date Included in Campaign"),
            AttributeMeta("statecode", kind.STATE, "Status", options=_STATE),
            AttributeMeta("statuscode", kind.STATUS, "Status Reason", options=_STATUS),
            AttributeMeta(
                "parentcustomerid",
                kind.LOOKUP,
                "Company Name",
                target="account",
                navigation="parentcustomerid_account",
            ),
            # A custom lookup as makers create them: the navigation property is the schema name, in mixed case,
            # and @odata.bind must use exactly that spelling.
            AttributeMeta(
                "sample_preferredaccountid",
                kind.LOOKUP,
                "Preferred Account",
                target="account",
                navigation="sample_PreferredAccountId",
            ),
            AttributeMeta(
                "transactioncurrencyid",
                kind.LOOKUP,
                "Currency",
                target="transactioncurrency",
                navigation="transactioncurrencyid",
            ),
            _sys("createdon", kind.DATETIME, "Created On"),
            _sys("modifiedon", kind.DATETIME, "Modified On"),
            _sys("versionnumber", kind.BIGINT, "Version Number"),
        ),
        alternate_keys=(AlternateKey("sample_contactemail_key", ("firstname", "emailaddress1")),),
        collections=(CollectionNavigation("account_primary_contact", "account", "primarycontactid"),),
    )


#: ``asyncoperation`` option sets (system job state and status reasons, operation type 13 = bulk delete).
ASYNC_STATE = (Option(0, "Ready"), Option(1, "Suspended"), Option(2, "Locked"), Option(3, "Completed"))
ASYNC_STATUS = (
    Option(0, "Waiting For Resources", state=0),
    Option(10, "Waiting", state=1),
    Option(20, "In Progress", state=2),
    Option(30, "Succeeded", state=3),
    Option(31, "Failed", state=3),
    Option(32, "Canceled", state=3),
)


def _asyncoperation() -> EntityMeta:
    """System jobs, as far as ``BulkDelete`` needs them: read-only through the Web API."""
    kind = AttributeKind
    return EntityMeta(
        logical_name="asyncoperation",
        entity_set_name="asyncoperations",
        display_name="System Job",
        primary_id="asyncoperationid",
        primary_name="name",
        object_type_code=4700,
        metadata_id="c8a6e5f2-7d0b-4e1a-9b3c-5d6e7f8a9b0c",
        attributes=(
            AttributeMeta("asyncoperationid", kind.UNIQUEIDENTIFIER, "System Job", valid_for_update=False),
            AttributeMeta("name", kind.STRING, "System Job Name", max_length=256),
            AttributeMeta("operationtype", kind.PICKLIST, "System Job Type", options=(Option(13, "Bulk Delete"),)),
            AttributeMeta("statecode", kind.STATE, "Status", options=ASYNC_STATE),
            AttributeMeta("statuscode", kind.STATUS, "Status Reason", options=ASYNC_STATUS),
            AttributeMeta("message", kind.MEMO, "Message", max_length=1_048_576),
            AttributeMeta("friendlymessage", kind.MEMO, "Friendly Message", max_length=1_048_576),
            _sys("startedon", kind.DATETIME, "Started On"),
            _sys("completedon", kind.DATETIME, "Completed On"),
            _sys("createdon", kind.DATETIME, "Created On"),
            _sys("modifiedon", kind.DATETIME, "Modified On"),
            _sys("versionnumber", kind.BIGINT, "Version Number"),
        ),
        change_tracking=False,
        writable=False,
    )


def _event() -> EntityMeta:
    """An elastic table (Dataverse stores these in Azure Cosmos DB): the one table where DeleteMultiple works."""
    kind = AttributeKind
    return EntityMeta(
        logical_name="sample_event",
        entity_set_name="sample_events",
        display_name="Event",
        primary_id="sample_eventid",
        primary_name="sample_name",
        object_type_code=10001,
        metadata_id="2b9d4c71-6e3a-4f85-b0d2-8c1e7a5f3d49",
        attributes=(
            AttributeMeta("sample_eventid", kind.UNIQUEIDENTIFIER, "Event", valid_for_update=False),
            AttributeMeta("sample_name", kind.STRING, "Name", max_length=100),
            AttributeMeta("sample_payload", kind.MEMO, "Payload", max_length=100_000),
            AttributeMeta("partitionid", kind.STRING, "Partition Id", max_length=100),
            AttributeMeta("ttlinseconds", kind.INTEGER, "Time to live (seconds)", min_value=-1.0, max_value=2e9),
            _sys("createdon", kind.DATETIME, "Created On"),
            _sys("modifiedon", kind.DATETIME, "Modified On"),
            _sys("versionnumber", kind.BIGINT, "Version Number"),
        ),
        change_tracking=False,
        elastic=True,
    )


def build_catalog() -> dict[str, EntityMeta]:
    """Build the sandbox's tables.

    :returns: entity metadata by logical name (a dict: tables and columns created through the Web API are added).
    """
    return {entity.logical_name: entity for entity in (_account(), _contact(), _asyncoperation(), _event())}

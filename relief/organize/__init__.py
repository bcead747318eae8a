"""The organizer's workspace: a chapter's drives, their pages and its supporters.

Organizers manage drives and the chapter's public page; they never see the treasury or a
donor's email (that stays with the treasurers' donor CSV). The rules of a drive and a
chapter live in :mod:`relief.drives`, shared with the CLI; this package only reads what the
organizer's screens show (:mod:`.workspace`) and defines their forms (:mod:`.forms`).
"""
